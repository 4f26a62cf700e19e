# IdempotencyRecord now belongs to the idempotency app (idempotency/migrations/0001).
# State only: the table ``idempotency_keys`` and its rows, index and constraint stay.

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('payments', '0003_midtrans_gateway'),
        ('idempotency', '0001_initial'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name='IdempotencyRecord')],
            database_operations=[],
        ),
    ]
