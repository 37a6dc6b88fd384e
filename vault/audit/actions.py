"""Every action the access log records, by name.

An entry's ``action`` is one of these values, written as the string itself: the log's bytes
are what verifiers check, so a value never changes once entries carry it (a new action is a
new member). ``docs/audit-log.md`` lists them all, and ``tests/test_layout.py`` keeps the two
in step.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["Action"]


class Action(StrEnum):
    """What an access-log entry says happened."""

    # The vault and its log.
    VAULT_INIT = "vault.init"
    INTEGRITY_ROWS_SEALED = "integrity.rows.sealed"
    LOG_KEY_CREATE = "log.key.create"
    LOG_KEY_ROTATE = "log.key.rotate"
    BACKUP_CREATE = "backup.create"
    BACKUP_RESTORE = "backup.restore"
    AUDIT_ROLLBACK_ACCEPTED = "audit.rollback.accepted"

    # Account administration.
    USER_CREATE = "user.create"
    USER_DISABLE = "user.disable"
    USER_ENABLE = "user.enable"
    USER_RESET = "user.reset"
    USER_ROLE_CHANGED = "user.role.changed"
    USER_KEY_ROTATION_REQUIRED = "user.key.rotation.required"
    USER_KEY_ROTATE = "user.key.rotate"
    USER_KEY_LOGGED = "user.key.logged"
    USER_END_TO_END_ONLY = "user.end-to-end-only"

    # Enrolment, login, sessions and tokens.
    AUTH_ENROLL = "auth.enroll"
    AUTH_ENROLL_CONFIRM = "auth.enroll.confirm"
    AUTH_ENROLL_FAILED = "auth.enroll.failed"
    AUTH_ENROLL_START = "auth.enroll.start"
    AUTH_LOGIN = "auth.login"
    AUTH_LOGIN_CHALLENGE = "auth.login.challenge"
    AUTH_LOGIN_FAILED = "auth.login.failed"
    AUTH_LOGOUT = "auth.logout"
    AUTH_TOKEN_CREATE = "auth.token.create"  # noqa: S105 - an action's name
    AUTH_TOKEN_REVOKE = "auth.token.revoke"  # noqa: S105 - an action's name
    AUTH_PASSPHRASE_CHANGE = "auth.passphrase.change"  # noqa: S105 - an action's name
    AUTH_PASSPHRASE_CHANGE_FAILED = "auth.passphrase.change.failed"  # noqa: S105 - an action's name

    # Cases, their members and their lifetime.
    CASE_CREATE = "case.create"
    CASE_MEMBER_ADD = "case.member.add"
    CASE_MEMBER_APPROVE = "case.member.approve"
    CASE_MEMBER_REMOVE = "case.member.remove"
    CASE_RETENTION_SET = "case.retention.set"
    CASE_CLOSE = "case.close"
    CASE_REOPEN = "case.reopen"
    HOLD_SET = "hold.set"
    HOLD_RELEASE = "hold.release"
    RETENTION_DELETE = "retention.delete"

    # Grants completed by clients that hold their own key.
    GRANT_PENDING_READ = "grant.pending.read"
    GRANT_COMPLETE = "grant.complete"

    # Documents.
    DOCUMENT_UPLOAD = "document.upload"
    DOCUMENT_LIST = "document.list"
    DOCUMENT_METADATA_READ = "document.metadata.read"
    DOCUMENT_CONTENT_READ = "document.content.read"
    DOCUMENT_DELETE = "document.delete"
    DOCUMENT_EXPORT = "document.export"

    # Redactions.
    REDACTION_PROPOSE = "redaction.propose"
    REDACTION_LIST = "redaction.list"
    REDACTION_SUGGEST = "redaction.suggest"
    REDACTION_APPROVE = "redaction.approve"
    REDACTION_REJECT = "redaction.reject"
    REDACTION_WITHDRAW = "redaction.withdraw"
    REDACTION_WITHDRAW_APPROVE = "redaction.withdraw.approve"
    REDACTION_WITHDRAW_REJECT = "redaction.withdraw.reject"

    # Sources.
    SOURCE_CREATE = "source.create"
    SOURCE_IDENTITY_READ = "source.identity.read"
    SOURCE_HANDOVER = "source.handover"
    SOURCE_HANDOVER_COMPLETE = "source.handover.complete"

    # The recovery key.
    RECOVERY_USED = "recovery.used"
    RECOVERY_RESHARE = "recovery.reshare"
    RECOVERY_KEY_ROTATE = "recovery.key.rotate"
    RECOVERY_KEY_LOGGED = "recovery.key.logged"
