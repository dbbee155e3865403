"""Accounts, roles, tokens, UI sessions, the audit ledger, node keys, sealed secrets and the peer
registry."""

from watchkeeper.security.accounts import (
    add_user,
    check_password,
    get_user,
    list_users,
    set_password,
    set_roles,
    user_document,
)
from watchkeeper.security.actions import record_change
from watchkeeper.security.audit import (
    Verification,
    entry_document,
    list_entries,
    record,
    verify,
)
from watchkeeper.security.keys import (
    NodeIdentity,
    init_keys,
    keys_dir,
    load_identity,
    load_signing_key,
)
from watchkeeper.security.models import (
    ApiToken,
    AuditEntry,
    AuditHead,
    Peer,
    UiSession,
    User,
    UserRole,
)
from watchkeeper.security.peers import (
    add_peer,
    get_peer,
    list_peers,
    peer_account,
    peer_document,
    peer_from_document,
    remove_peer,
)
from watchkeeper.security.roles import ROLES, STAFF_ROLES, Principal, check_roles, cli_principal
from watchkeeper.security.sealing import SecretBox
from watchkeeper.security.sessions import UiLogin, close_session, open_session, resolve_session
from watchkeeper.security.signatures import (
    check_signature,
    is_signed,
    remember_nonce,
    sign_request,
    verify_request,
)
from watchkeeper.security.tokens import (
    IssuedToken,
    authenticate,
    basic_credentials,
    create_token,
    list_tokens,
    parse_duration,
    revoke_token,
    token_document,
)

__all__ = [
    "ROLES",
    "STAFF_ROLES",
    "ApiToken",
    "AuditEntry",
    "AuditHead",
    "IssuedToken",
    "NodeIdentity",
    "Peer",
    "Principal",
    "SecretBox",
    "UiLogin",
    "UiSession",
    "User",
    "UserRole",
    "Verification",
    "add_peer",
    "add_user",
    "authenticate",
    "basic_credentials",
    "check_password",
    "check_roles",
    "check_signature",
    "cli_principal",
    "close_session",
    "create_token",
    "entry_document",
    "get_peer",
    "get_user",
    "init_keys",
    "is_signed",
    "keys_dir",
    "list_entries",
    "list_peers",
    "list_tokens",
    "list_users",
    "load_identity",
    "load_signing_key",
    "open_session",
    "parse_duration",
    "peer_account",
    "peer_document",
    "peer_from_document",
    "record",
    "record_change",
    "remember_nonce",
    "remove_peer",
    "resolve_session",
    "revoke_token",
    "set_password",
    "set_roles",
    "sign_request",
    "token_document",
    "user_document",
    "verify",
    "verify_request",
]
