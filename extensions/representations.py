from rest_framework import serializers


class ExtensionSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    chat_session_id = serializers.UUIDField()
    payment_session_id = serializers.UUIDField()
    minutes = serializers.IntegerField()
    status = serializers.CharField()
    timeout_seconds = serializers.IntegerField()
    default_action = serializers.CharField()
    expires_at = serializers.DateTimeField(source="deadline_at")
    resolved_at = serializers.DateTimeField(allow_null=True)
