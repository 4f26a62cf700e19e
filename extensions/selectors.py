from config.errors import NotFoundError
from extensions.models import Extension


def extension_for_customer_get(*, customer, extension_id) -> Extension:
    extension = Extension.objects.filter(id=extension_id, chat_session__customer=customer).first()
    if extension is None:
        raise NotFoundError("Extension not found.")
    return extension
