from django.apps import AppConfig


class SupervisionConfig(AppConfig):
    name = "jingan.supervision"
    label = "supervision"
    verbose_name = "互联网运营监管"
