"""Shared plumbing for Tollgate services: settings, storage, errors, logs, money, HTTP, jobs.

Only generic infrastructure lives here; domain models and schemas stay in their service.
"""
