"""The only package that creates boto3 sessions and clients (never at import time)."""
