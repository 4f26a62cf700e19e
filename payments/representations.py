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
