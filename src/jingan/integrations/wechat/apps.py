from django.apps import AppConfig


class WechatConfig(AppConfig):
    name = "jingan.integrations.wechat"
    label = "wechat"
    verbose_name = "微信公众平台"
