from rest_framework import serializers


class PaymentSessionSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    status = serializers.CharField()
    amount = serializers.IntegerField()
    duration_minutes = serializers.IntegerField()
    is_free_trial = serializers.BooleanField()
    is_extension = serializers.BooleanField()
    targeted_mitra_id = serializers.UUIDField(allow_null=True)
    chat_session_id = serializers.UUIDField(allow_null=True)
    expires_at = serializers.DateTimeField()
    created_at = serializers.DateTimeField()
    provider = serializers.ChoiceField(choices=["instant", "midtrans", "free_trial"])
    snap_token = serializers.SerializerMethodField(help_text="Midtrans Snap token of the payment page; null when none.")
    redirect_url = serializers.SerializerMethodField(help_text="Midtrans Snap payment page; null when none.")

    def get_snap_token(self, payment) -> str | None:
        return payment.snap_token or None

    def get_redirect_url(self, payment) -> str | None:
        return payment.redirect_url or None
