"""Notifications become an app: the outbox moves here from invoicing and notification
preferences from budgets (state only: their tables and rows are kept, and renamed by
0003); webhook deliveries are a new, generic table (budgets' rows are copied by 0002)."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('accounts', '0004_project_quotas'),
        ('invoicing', '0007_billingcycle_moved_to_cycles'),
        ('budgets', '0002_billingcycle_moved_to_cycles'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name='OutboxMessage',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('key', models.CharField(max_length=300, unique=True)),
                        ('to', models.EmailField(max_length=254)),
                        ('subject', models.CharField(max_length=300)),
                        ('text', models.TextField()),
                        ('html', models.TextField(blank=True)),
                        ('attachments', models.JSONField(blank=True, default=list)),
                        ('status', models.CharField(choices=[('pending', 'Pending'), ('sending', 'Sending'), ('sent', 'Sent'), ('failed', 'Failed')], default='pending', max_length=10)),
                        ('attempts', models.PositiveIntegerField(default=0)),
                        ('last_error', models.TextField(blank=True)),
                        ('next_attempt_at', models.DateTimeField(blank=True, null=True)),
                        ('claimed_at', models.DateTimeField(blank=True, null=True)),
                        ('sent_at', models.DateTimeField(blank=True, null=True)),
                        ('created_at', models.DateTimeField(auto_now_add=True)),
                    ],
                    options={
                        'db_table': 'invoicing_outboxmessage',
                        'ordering': ['-created_at', '-id'],
                        'indexes': [models.Index(fields=['status', 'next_attempt_at'], name='invoicing_o_status_13f60a_idx')],
                        'constraints': [models.CheckConstraint(condition=models.Q(models.Q(('status', 'sent'), _negated=True), ('sent_at__isnull', False), _connector='OR'), name='sent_outbox_message_has_sent_at')],
                    },
                ),
            ],
            database_operations=[],
        ),
        migrations.CreateModel(
            name='WebhookDelivery',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('key', models.CharField(max_length=300, unique=True)),
                ('event', models.CharField(max_length=100)),
                ('subject', models.CharField(db_index=True, max_length=100)),
                ('details', models.JSONField(blank=True, default=dict)),
                ('message_id', models.CharField(max_length=100)),
                ('url', models.URLField(max_length=500)),
                ('secret', models.CharField(max_length=200)),
                ('body', models.TextField()),
                ('status', models.CharField(choices=[('pending', 'Pending'), ('sending', 'Sending'), ('delivered', 'Delivered'), ('failed', 'Failed')], default='pending', max_length=10)),
                ('attempts', models.PositiveIntegerField(default=0)),
                ('last_status_code', models.PositiveSmallIntegerField(blank=True, null=True)),
                ('last_error', models.TextField(blank=True)),
                ('next_attempt_at', models.DateTimeField(blank=True, null=True)),
                ('claimed_at', models.DateTimeField(blank=True, null=True)),
                ('delivered_at', models.DateTimeField(blank=True, null=True)),
                ('created_at', models.DateTimeField()),
            ],
            options={
                'verbose_name_plural': 'webhook deliveries',
                'ordering': ['-created_at', '-id'],
                'indexes': [models.Index(fields=['status', 'next_attempt_at'], name='webhook_due_idx')],
                'constraints': [models.CheckConstraint(condition=models.Q(models.Q(('status', 'delivered'), _negated=True), ('delivered_at__isnull', False), _connector='OR'), name='delivered_webhook_has_delivered_at')],
            },
        ),
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name='NotificationPreference',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('invoice_email', models.BooleanField(default=True)),
                        ('budget_email', models.BooleanField(default=True)),
                        ('updated_at', models.DateTimeField()),
                        ('organization', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='accounts.organization')),
                        ('project', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='accounts.project')),
                        ('user', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='notification_preferences', to=settings.AUTH_USER_MODEL)),
                    ],
                    options={
                        'db_table': 'budgets_notificationpreference',
                        'ordering': ['user_id', 'organization_id', 'project_id'],
                        'constraints': [models.CheckConstraint(condition=models.Q(models.Q(('organization__isnull', False), ('project__isnull', True)), models.Q(('organization__isnull', True), ('project__isnull', False)), _connector='OR'), name='notification_preference_org_or_project'), models.UniqueConstraint(condition=models.Q(('organization__isnull', False)), fields=('user', 'organization'), name='notification_preference_unique_per_org'), models.UniqueConstraint(condition=models.Q(('project__isnull', False)), fields=('user', 'project'), name='notification_preference_unique_per_project')],
                    },
                ),
            ],
            database_operations=[],
        ),
    ]
