"""The evidence vault: one-pass multi-hash intake into write-once storage, and a signed,
hash-chained custody ledger that ``verify_evidence`` checks end to end."""

from watchkeeper.evidence.case_export import export_case, export_case_bundle
from watchkeeper.evidence.custody import (
    OPEN_ROLES,
    Signer,
    acting_role,
    anchor_ledger,
    checkin,
    checkout,
    custody_timeline,
    find_item,
    item_document,
    ledger_head,
    list_items,
    node_signer,
    open_content,
    record_custody,
)
from watchkeeper.evidence.digests import Digests, digest_file
from watchkeeper.evidence.disposal import (
    approve_disposal,
    authorise_onward,
    dispose_approve,
    dispose_request,
    request_disposal,
    set_legal_hold,
    set_retention,
)
from watchkeeper.evidence.intake import add_evidence
from watchkeeper.evidence.models import ACTIONS, KINDS, STATUSES, CustodyEvent, EvidenceItem
from watchkeeper.evidence.package_receive import receive_package
from watchkeeper.evidence.packages import build_package
from watchkeeper.evidence.vault import content_path, sweep_partial
from watchkeeper.evidence.verify import Failure, VerifyReport, verify_evidence

__all__ = [
    "ACTIONS",
    "KINDS",
    "OPEN_ROLES",
    "STATUSES",
    "CustodyEvent",
    "Digests",
    "EvidenceItem",
    "Failure",
    "Signer",
    "VerifyReport",
    "acting_role",
    "add_evidence",
    "anchor_ledger",
    "approve_disposal",
    "authorise_onward",
    "build_package",
    "checkin",
    "checkout",
    "content_path",
    "custody_timeline",
    "digest_file",
    "dispose_approve",
    "dispose_request",
    "export_case",
    "export_case_bundle",
    "find_item",
    "item_document",
    "ledger_head",
    "list_items",
    "node_signer",
    "open_content",
    "receive_package",
    "record_custody",
    "request_disposal",
    "set_legal_hold",
    "set_retention",
    "sweep_partial",
    "verify_evidence",
]
