from django.apps import AppConfig


class MedicalRecordsConfig(AppConfig):
    name = "jingan.medical_records"
    label = "medical_records"
    verbose_name = "一键式病案"
