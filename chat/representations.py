from rest_framework import serializers


class MessageSerializer(serializers.Serializer):
    """A message as both participants see it: the sender is a role, never a user id."""

    id = serializers.UUIDField()
    chat_session_id = serializers.UUIDField()
    sender = serializers.CharField()
    text = serializers.CharField()
    client_message_id = serializers.CharField()
    created_at = serializers.DateTimeField()
    delivered_at = serializers.DateTimeField(allow_null=True)
    read_at = serializers.DateTimeField(allow_null=True)


def message_payload(message) -> dict:
    return dict(MessageSerializer(message).data)
