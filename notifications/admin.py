from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from .models import OutboundMessage
from .services import messages_send_again


@admin.register(OutboundMessage)
class OutboundMessageAdmin(admin.ModelAdmin):
    list_display = [
        "created_at",
        "channel",
        "recipient",
        "template",
        "status",
        "attempts",
        "sent_at",
    ]
    list_filter = ["status", "channel", "template"]
    search_fields = ["recipient", "template", "last_error"]
    date_hierarchy = "created_at"
    actions = ["send_again"]
    # The context may hold link tokens: shown read-only, never edited by hand.
    readonly_fields = [field.name for field in OutboundMessage._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.action(description="Send again", permissions=["change"])
    def send_again(self, request: HttpRequest, queryset: QuerySet[OutboundMessage]) -> None:
        wanted = list(queryset.values_list("pk", flat=True))
        count = messages_send_again(message_ids=wanted)
        self.message_user(request, f"{count} message(s) queued to send again.", messages.SUCCESS)
        if count < len(wanted):
            self.message_user(
                request,
                f"{len(wanted) - count} message(s) were being sent at that moment "
                "and were left alone.",
                messages.WARNING,
            )
