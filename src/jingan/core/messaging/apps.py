from django.apps import AppConfig


class MessagingConfig(AppConfig):
    name = "jingan.core.messaging"
    label = "messaging"
    verbose_name = "消息中心"
