# IdempotencyRecord moved here from payments. Its table ``idempotency_keys`` was created
# by payments/migrations/0002 and stays as it is: this migration changes only Django's
# state (payments/migrations/0004 removes the model from payments' state).

import django.db.models.deletion
import django.db.models.functions.datetime
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('payments', '0003_midtrans_gateway'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name='IdempotencyRecord',
                    fields=[
                        ('id', models.BigAutoField(primary_key=True, serialize=False)),
                        ('key', models.CharField(max_length=128)),
                        ('request_fingerprint', models.CharField(max_length=64)),
                        ('response_status', models.PositiveSmallIntegerField(null=True)),
                        ('response_body', models.JSONField(null=True)),
                        ('created_at', models.DateTimeField(auto_now_add=True, db_default=django.db.models.functions.datetime.Now())),
                        ('user', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to=settings.AUTH_USER_MODEL)),
                    ],
                    options={
                        'db_table': 'idempotency_keys',
                        'indexes': [models.Index(fields=['created_at'], name='idx_idempotency_keys_created')],
                        'constraints': [models.UniqueConstraint(fields=('user', 'key'), name='idempotency_keys_user_key_unique')],
                    },
                ),
            ],
            database_operations=[],
        ),
    ]
