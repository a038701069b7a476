"""Every stored usage event has its id claimed in metering_usageevent_ids.

Ingestion always claimed the id in the statement that stores the event; this
foreign key makes it a rule of the database, so no writer (a script, the ORM) can
store an event whose id is not claimed. That lets the stored-duplicate lookup ask
the ids table first, one index for every month, and read the month partitions only
for the ids it finds (bench/RESULTS.md §1: the partitions' indexes outgrow the
buffer cache as a month fills, and probing all of them for every new id slowed
ingestion fourfold after 1.7 M events).

Ids of rows stored before are claimed first, so the key validates on old data.
"""

from django.db import migrations

TABLE = "metering_usageevent"
CONSTRAINT = "metering_usageevent_event_id_claimed"


class Migration(migrations.Migration):

    dependencies = [("metering", "0004_usage_fewer_indexes")]

    operations = [
        migrations.RunSQL(
            [
                f"INSERT INTO {TABLE}_ids (event_id) SELECT DISTINCT event_id FROM {TABLE} "
                "ON CONFLICT DO NOTHING",
                f"ALTER TABLE {TABLE} ADD CONSTRAINT {CONSTRAINT} FOREIGN KEY (event_id) "
                f"REFERENCES {TABLE}_ids (event_id)",
            ],
            reverse_sql=f"ALTER TABLE {TABLE} DROP CONSTRAINT {CONSTRAINT}",
        ),
    ]
