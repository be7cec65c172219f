from pathlib import Path

import pytest

from optimizer.config import DEFAULT_DATABASE_URL, load_settings
from optimizer.errors import ConfigError


def test_defaults_and_fixed_environment_names(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings().store.database_url == DEFAULT_DATABASE_URL
    monkeypatch.setenv("BATCHOPT_DATABASE_URL", "sqlite:////tmp/x.db")
    monkeypatch.setenv("BATCHOPT_AWS_ENDPOINT_URL", "http://127.0.0.1:5000")
    monkeypatch.setenv("BATCHOPT_REGIONS", "us-east-1, eu-west-1")
    settings = load_settings()
    assert settings.store.database_url == "sqlite:////tmp/x.db"
    assert settings.aws.endpoint_url == "http://127.0.0.1:5000"
    assert settings.aws.regions == ["us-east-1", "eu-west-1"]


def test_toml_file_with_targets_and_env_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "batchopt.toml"
    config.write_text(
        """
[collection]
interval_minutes = 15

[[aws.targets]]
name = "prod"
role_arn = "arn:aws:iam::123456789012:role/batchopt-collector"
regions = ["us-west-2"]

[[aws.targets]]
name = "dev"
"""
    )
    monkeypatch.setenv("BATCHOPT_REGIONS", "eu-central-1")
    settings = load_settings(config)
    assert settings.collection.interval_minutes == 15
    targets = {t.name: t.regions for t in settings.aws.effective_targets()}
    assert targets == {"prod": ["us-west-2"], "dev": ["eu-central-1"]}
    monkeypatch.setenv("BATCHOPT_COLLECTION__INTERVAL_MINUTES", "5")
    assert load_settings(config).collection.interval_minutes == 5


def test_no_targets_means_default_chain_in_aws_default_region(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "ap-south-1")
    [target] = load_settings().aws.effective_targets()
    assert (target.name, target.role_arn, target.regions) == ("default", None, ["ap-south-1"])
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    with pytest.raises(ConfigError, match=r"aws\.regions"):
        load_settings().aws.effective_targets()


def test_bad_values_name_every_field(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("BATCHOPT_COLLECTION__INTERVAL_MINUTES", "often")
    monkeypatch.setenv("BATCHOPT_AWS_ENDPOINT_URL", "localhost:5000")
    with pytest.raises(ConfigError) as info:
        load_settings()
    lines = str(info.value).splitlines()
    assert len(lines) == 2
    assert any(
        line.startswith("collection.interval_minutes (BATCHOPT_COLLECTION__INTERVAL_MINUTES)")
        for line in lines
    )
    assert any(line.startswith("aws.endpoint_url (BATCHOPT_AWS_ENDPOINT_URL)") for line in lines)


def test_missing_and_malformed_config_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_settings(tmp_path / "nope.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[collection\ninterval_minutes = 1\n")
    with pytest.raises(ConfigError, match=r"bad.toml.*line 1"):
        load_settings(bad)


def test_bad_target_role_arn(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text('[[aws.targets]]\nname = "x"\nrole_arn = "not-an-arn"\n')
    with pytest.raises(ConfigError, match=r"aws.targets.0.role_arn"):
        load_settings(config)


def test_list_settings_are_comma_separated_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BATCHOPT_APPLY__ALLOW_LIST", "main-ce, etl-queue")
    monkeypatch.setenv("BATCHOPT_REPORT__EMAIL_TO", "a@example.org,b@example.org")
    monkeypatch.setenv("BATCHOPT_COLLECTION__JOB_STATUSES", "SUCCEEDED")
    settings = load_settings()
    assert settings.apply.allow_list == ["main-ce", "etl-queue"]
    assert settings.report.email_to == ["a@example.org", "b@example.org"]
    assert settings.collection.job_statuses == ["SUCCEEDED"]


def test_instance_requirements_from_toml_and_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from optimizer.solver.policy import policy_from_settings

    path = tmp_path / "b.toml"
    path.write_text(
        "[optimization]\nmax_spot_share = 0.8\n"
        '[optimization.instance_requirements]\nburstable = true\nexcluded_families = ["m5*"]\n'
    )
    monkeypatch.setenv("BATCHOPT_OPTIMIZATION__INSTANCE_REQUIREMENTS__ALLOWED_CATEGORIES", "general,compute")
    policy = policy_from_settings(load_settings(str(path)).optimization)
    req = policy.instance_requirements
    assert policy.max_spot_share == 0.8
    assert req.burstable and req.excluded_families == ("m5*",)
    assert req.allowed_categories == ("general", "compute") and req.generations == "current"
    monkeypatch.setenv("BATCHOPT_OPTIMIZATION__INSTANCE_REQUIREMENTS__ACCELERATORS", "maybe")
    with pytest.raises(ConfigError) as info:
        load_settings(str(path))
    assert "BATCHOPT_OPTIMIZATION__INSTANCE_REQUIREMENTS__ACCELERATORS" in str(info.value)


def test_a_mistyped_key_in_any_section_is_named_not_ignored(tmp_path: Path) -> None:
    # `max_spot_shar` once left the spot-share cap unset without a word: plans ignored the policy.
    config = tmp_path / "typo.toml"
    config.write_text(
        '[optimization]\nmax_spot_shar = 0.5\n[apply]\nenable = true\n[report]\nout_dirr = "x"\n'
    )
    with pytest.raises(ConfigError) as info:
        load_settings(config)
    assert str(info.value).splitlines() == [
        "optimization.max_spot_shar (BATCHOPT_OPTIMIZATION__MAX_SPOT_SHAR): unknown setting (a typo?)",
        "apply.enable (BATCHOPT_APPLY__ENABLE): unknown setting (a typo?)",
        "report.out_dirr (BATCHOPT_REPORT__OUT_DIRR): unknown setting (a typo?)",
    ]


def test_the_collection_interval_is_the_schedulers(monkeypatch: pytest.MonkeyPatch) -> None:
    # The README's `[collection] interval_minutes` was read by nothing: the scheduler had its own.
    import optimizer.collectors.scheduled  # noqa: F401  (registers the job)
    from optimizer.scheduler.registry import registered_jobs

    monkeypatch.setenv("BATCHOPT_COLLECTION__INTERVAL_MINUTES", "5")
    [collect] = [job for job in registered_jobs() if job.id == "collect"]
    assert collect.trigger(load_settings()).interval.total_seconds() == 300


def test_a_config_file_that_is_not_utf8_is_one_line(tmp_path: Path) -> None:
    config = tmp_path / "latin1.toml"
    config.write_bytes(b'[report]\ntimezone = "Europe/Z\xfcrich"\n')
    with pytest.raises(ConfigError, match=r"latin1.toml: not UTF-8 text \(byte 30\)$"):
        load_settings(config)


def test_an_unknown_time_zone_is_named(tmp_path: Path) -> None:
    config = tmp_path / "tz.toml"
    config.write_text('[schedule]\ntimezone = "Mars/Olympus"\n[report]\ntimezone = "Europe/Zurich"\n')
    with pytest.raises(ConfigError) as info:
        load_settings(config)
    assert str(info.value) == (
        "schedule.timezone (BATCHOPT_SCHEDULE__TIMEZONE): Value error, 'Mars/Olympus' is not a known IANA"
        " time zone (e.g. UTC, Europe/Zurich)"
    )


def test_a_variable_that_is_not_the_json_its_setting_needs_is_one_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("BATCHOPT_AWS__ENDPOINT_URLS", "notjson")
    with pytest.raises(ConfigError, match=r'^BATCHOPT_AWS__\*: error parsing value for field "aws"'):
        load_settings()
