from django.apps import AppConfig


class DictionaryConfig(AppConfig):
    name = "jingan.core.dictionary"
    label = "dictionary"
    verbose_name = "数据字典与系统设置"
