"""Each audit action's event type in DICOM PS3.15 Annex A.5 (audit trail message format),
named by its EventID code meaning and code (DCM), so an administrator can read the trail in
the vocabulary of a hospital's audit repository (ATNA).

An action that no Annex A.5 event fits (the delivery of a link by email or SMS) has none.
A new action without an entry here shows no DICOM event type; `tests/audit` lists those
deliberately left out, so a new one is a decision, not an oversight.
"""

APPLICATION_ACTIVITY = "Application Activity (110100)"
AUDIT_LOG_USED = "Audit Log Used (110101)"
INSTANCES_ACCESSED = "DICOM Instances Accessed (110103)"
INSTANCES_TRANSFERRED = "DICOM Instances Transferred (110104)"
EXPORT = "Export (110106)"
IMPORT = "Import (110107)"
QUERY = "Query (110112)"
SECURITY_ALERT = "Security Alert (110113)"
USER_AUTHENTICATION = "User Authentication (110114)"

EVENT_TYPES = [
    APPLICATION_ACTIVITY,
    AUDIT_LOG_USED,
    INSTANCES_ACCESSED,
    INSTANCES_TRANSFERRED,
    EXPORT,
    IMPORT,
    QUERY,
    SECURITY_ALERT,
    USER_AUTHENTICATION,
]

# action value -> event type. Values, not AuditEvent.Action members, so models can import it.
DICOM_EVENT_TYPES: dict[str, str] = {
    # Who signs in: people at the login page, and recipients at a link's password gate.
    "login": USER_AUTHENTICATION,
    "login_failed": USER_AUTHENTICATION,
    "logout": USER_AUTHENTICATION,
    "guestlink_opened": USER_AUTHENTICATION,
    "guestlink_wrong_password": USER_AUTHENTICATION,
    "guestlink_attempt": USER_AUTHENTICATION,
    "uploadlink_opened": USER_AUTHENTICATION,
    "uploadlink_wrong_password": USER_AUTHENTICATION,
    "uploadlink_attempt": USER_AUTHENTICATION,
    # Reading patient data.
    "study_opened": INSTANCES_ACCESSED,
    "images_viewed": INSTANCES_ACCESSED,
    # Other software reading through DICOMweb: a search is a query; a retrieve (instances,
    # metadata, bulk data) sends instances' content to the caller. Frames are "images viewed".
    "dicomweb_query": QUERY,
    "dicomweb_retrieved": INSTANCES_TRANSFERRED,
    # Data entering: uploads (the page, import_dicom, upload links).
    "study_uploaded": IMPORT,
    "uploadlink_uploaded": IMPORT,
    # Data leaving for someone else: shares and invitations; to a PACS: a transfer.
    "study_shared": EXPORT,
    "invitation_created": EXPORT,
    "invitation_accepted": INSTANCES_TRANSFERRED,
    "study_sent": INSTANCES_TRANSFERRED,
    "guestlink_downloaded": EXPORT,
    # Who may reach what changed: links, access rules, a link locked by wrong passwords.
    "invitation_revoked": SECURITY_ALERT,
    "guestlink_created": SECURITY_ALERT,
    "guestlink_deleted": SECURITY_ALERT,
    "guestlink_locked": SECURITY_ALERT,
    "guestlink_changed": SECURITY_ALERT,
    "guestlink_unlocked": SECURITY_ALERT,
    "uploadlink_created": SECURITY_ALERT,
    "uploadlink_changed": SECURITY_ALERT,
    "uploadlink_deleted": SECURITY_ALERT,
    "uploadlink_locked": SECURITY_ALERT,
    "role_changed": SECURITY_ALERT,
    "membership_changed": SECURITY_ALERT,
    "share_code_regenerated": SECURITY_ALERT,
    "api_token_created": SECURITY_ALERT,
    "api_token_revoked": SECURITY_ALERT,
    "organisation_changed": SECURITY_ALERT,
    "partnership_changed": SECURITY_ALERT,
    "worklist_changed": SECURITY_ALERT,
    "user_changed": SECURITY_ALERT,
    "object_permission_changed": SECURITY_ALERT,
    # Reading the trail itself.
    "audit_exported": AUDIT_LOG_USED,
}

# Deliberately without an Annex A.5 event type.
# A recipient asking for a new link changes no access: the creator decides.
NO_DICOM_EVENT_TYPE = {
    "guestlink_delivered",
    "uploadlink_delivered",
    "invitation_delivered",
    "guestlink_new_link_asked",
}


def dicom_event_type(action: str) -> str:
    return DICOM_EVENT_TYPES.get(action, "")


def actions_of_event_type(event_type: str) -> list[str]:
    return [action for action, kind in DICOM_EVENT_TYPES.items() if kind == event_type]
