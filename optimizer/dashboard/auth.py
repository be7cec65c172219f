"""Who may apply from the dashboard: an OIDC sign-in when a provider is configured, else a shared secret.

Viewing is open to whoever can reach the port (it binds 127.0.0.1 unless configured otherwise);
changing AWS is not. The gate never shows a secret or any setting's value: only what to do.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass

import streamlit as st

from optimizer.config import Settings

SECRET_KEY = "apply_secret_ok"


@dataclass(frozen=True)
class Gate:
    """Whether the apply buttons are live, why not, and who the audit log should name."""

    allowed: bool
    reason: str
    actor: str = "dashboard"


def secret_matches(typed: str, configured: str) -> bool:
    """Constant-time comparison, so response times do not leak how much of a guess was right."""
    return hmac.compare_digest(typed.encode("utf-8"), configured.encode("utf-8"))


def apply_disabled_reason(settings: Settings) -> str | None:
    """Why applying is switched off in the configuration, or None when it is on."""
    if not settings.apply.enabled:
        return (
            "Applying is disabled in the configuration: set `apply.enabled = true` "
            "(BATCHOPT_APPLY__ENABLED=true) and list the resources in `apply.allow_list`."
        )
    if not settings.dashboard.oidc_provider and settings.apply.shared_secret is None:
        return (
            "No sign-in is configured for applying: set `dashboard.oidc_provider` (and Streamlit's "
            "[auth] section) or `apply.shared_secret` (BATCHOPT_APPLY__SHARED_SECRET)."
        )
    return None


def apply_gate(settings: Settings) -> Gate:
    """Render the sign-in control the configuration asks for and say whether applying is allowed."""
    disabled = apply_disabled_reason(settings)
    if disabled is not None:
        return Gate(False, disabled)
    provider = settings.dashboard.oidc_provider
    if provider:
        if not st.user.is_logged_in:
            st.button("Sign in to apply", on_click=st.login, args=(provider,), key="sign_in")
            return Gate(False, "Sign in to apply or roll back changes.")
        who = str(st.user.get("email") or st.user.get("name") or "signed-in user")
        st.caption(f"Signed in as {who}")
        st.button("Sign out", on_click=st.logout, key="sign_out")
        return Gate(True, "", actor=f"dashboard:{who}")
    secret = settings.apply.shared_secret
    assert secret is not None  # apply_disabled_reason returned None
    if not st.session_state.get(SECRET_KEY):
        typed = st.text_input("Apply secret", type="password", key="apply_secret_input")
        if typed and secret_matches(typed, secret.get_secret_value()):
            st.session_state[SECRET_KEY] = True
        else:
            if typed:
                st.error("That secret is not the configured one.")
            return Gate(False, "Type the configured apply secret to apply or roll back changes.")
    return Gate(True, "", actor="dashboard:shared-secret")
