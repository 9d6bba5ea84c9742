"""The action codes the log uses, with what each means. Codes are stable: clients filter on them."""

ACTIONS: dict[str, str] = {
    "product.created": "Product created",
    "product.updated": "Product renamed or (de)activated",
    "price.changed": "Base price changed",
    "experiment.created": "Experiment designed",
    "experiment.updated": "Experiment changed (design, variants, a new phase)",
    "experiment.started": "Experiment started",
    "experiment.resumed": "Experiment resumed",
    "experiment.paused": "Experiment paused",
    "experiment.completed": "Experiment completed",
    "experiment.archived": "Experiment archived",
    "apikey.created": "API key issued",
    "apikey.revoked": "API key revoked",
    "member.added": "Member added",
    "member.role_changed": "Member's role changed",
    "member.removed": "Member removed",
    "member.left": "Member left",
    "invitation.sent": "Invitation sent",
    "invitation.resent": "Invitation sent again",
    "invitation.cancelled": "Invitation cancelled",
    "invitation.accepted": "Invitation accepted",
    "webhook.endpoint_created": "Webhook endpoint added",
    "webhook.endpoint_updated": "Webhook endpoint changed",
    "webhook.endpoint_deleted": "Webhook endpoint deleted",
    "webhook.secret_rolled": "Webhook signing secret rolled",
    "webhook.redelivered": "Webhook delivery sent again",
    "plan.changed": "Plan changed",
    "billing.override_changed": "Limits overridden by staff",
    "tenant.created": "Workspace created",
    "tenant.origins_changed": "Allowed browser origins changed",
    "tenant.changed": "Workspace changed by staff",
    "tenant.suspended": "Workspace suspended",
    "tenant.reactivated": "Workspace reactivated",
    "tenant.deleted": "Workspace deleted",
    # Staff only (no tenant): the terms of a plan, and people's accounts.
    "plan.created": "Plan created",
    "plan.edited": "Plan's terms edited",
    "plan.deleted": "Plan deleted",
    "user.created": "Account created in admin",
    "user.changed": "Account changed in admin",
    "user.deleted": "Account deleted in admin",
    "user.password_changed": "Password changed, reset, or set by staff",
    "user.password_disabled": "Password sign-in turned off by staff",
}

STAFF_ONLY = frozenset(
    {
        "plan.created",
        "plan.edited",
        "plan.deleted",
        "user.created",
        "user.changed",
        "user.deleted",
        "user.password_changed",
        "user.password_disabled",
    }
)
# What a tenant's page offers to filter by: the codes a tenant's log can hold.
TENANT_ACTIONS = {code: label for code, label in ACTIONS.items() if code not in STAFF_ONLY}
