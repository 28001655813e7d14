"""The built-in roles: 三权分立 administrators, the regulator and institution roles.

Later issues add their permissions to these roles by extending the tuples here (or
declare their own roles); ``sync_builtin_roles`` brings the database in line after every
migration.
"""

from __future__ import annotations

from dataclasses import dataclass

from jingan.core.access.models import Duty, ScopeKind


@dataclass(frozen=True)
class BuiltinRole:
    code: str
    name: str
    duty: str
    scope_kind: str
    description: str
    permissions: tuple[str, ...]


_INSTITUTION_READ = ("institutions.view_institution", "institutions.view_department")
# Supervision: dashboards (indicator store), alerts, run history, exchange register.
_SUPERVISION_READ = (
    "supervision.view_indicatorvalue",
    "supervision.view_alert",
    "supervision.view_alertrule",
    "supervision.view_jobrun",
    "supervision.view_exchangefile",
)
# E-prescriptions, the centre journal and notifications, the drug catalogue, connections.
_ERX_READ = (
    "erx.view_prescription",
    "erx.view_centrecall",
    "erx.view_centrenotification",
    "erx.view_drugcatalogueentry",
    "erx.view_centreconnection",
)

# The visit assistant's integration side: HIS connections, rejected messages, journeys,
# the event centre's partitions. Staff never read residents' visits here.
_VISITS_READ = (
    "visits.view_hisconnection",
    "visits.view_rejectedmessage",
    "visits.view_nodetemplate",
    "visits.view_partitionlease",
)
_VISITS_MANAGE = (
    "visits.manage_hisconnection",
    "visits.replay_rejectedmessage",
)

BUILTIN_ROLES: tuple[BuiltinRole, ...] = (
    BuiltinRole(
        "system_admin",
        "系统管理员",
        Duty.SYSTEM,
        ScopeKind.DISTRICT,
        "机构与科室、工作人员账号、数据字典、系统参数与运行维护；不能授权，不能查看审计日志。",
        (
            *_INSTITUTION_READ,
            "institutions.add_institution",
            "institutions.change_institution",
            "institutions.delete_institution",
            "institutions.add_department",
            "institutions.change_department",
            "institutions.delete_department",
            *_VISITS_READ,
            *_VISITS_MANAGE,
            "dictionary.view_dictionarycategory",
            "dictionary.view_dictionaryentry",
            "dictionary.add_dictionaryentry",
            "dictionary.change_dictionaryentry",
            "dictionary.delete_dictionaryentry",
            "dictionary.view_institutionsetting",
            "dictionary.change_institutionsetting",
            "accounts.view_user",
            "accounts.add_user",
            "accounts.change_user",
            "runtime.view_platform_status",
            "messaging.view_outboxentry",
            "medical_records.view_archivesource",
            "medical_records.manage_archive_source",
            "erx.view_centreconnection",
            "erx.manage_centreconnection",
        ),
    ),
    BuiltinRole(
        "security_admin",
        "安全管理员",
        Duty.SECURITY,
        ScopeKind.DISTRICT,
        "角色、功能权限与数据范围的授予和收回，账号解锁；不接触业务数据，不能查看审计日志。",
        (
            "access.view_role",
            "access.add_role",
            "access.change_role",
            "access.delete_role",
            "access.assign_role",
            "accounts.view_user",
            "accounts.unlock_user",
            "institutions.view_institution",
        ),
    ),
    BuiltinRole(
        "auditor",
        "安全审计员",
        Duty.AUDIT,
        ScopeKind.DISTRICT,
        "查询、分析与导出审计日志；不能修改任何配置或业务数据。",
        ("audit.view_auditentry",),
    ),
    BuiltinRole(
        "district_regulator",
        "区卫健委监管人员",
        Duty.BUSINESS,
        ScopeKind.DISTRICT,
        "全区只读：机构、科室、运行状态与监管数据。",
        (
            *_INSTITUTION_READ,
            "runtime.view_platform_status",
            "medical_records.view_archivesource",
            "medical_records.view_copyapplication",
            *_ERX_READ,
            *_SUPERVISION_READ,
            "supervision.handle_alert",
            *_VISITS_READ,
        ),
    ),
    BuiltinRole(
        "institution_admin",
        "机构管理员",
        Duty.BUSINESS,
        ScopeKind.INSTITUTION,
        "本机构信息、科室、机构参数与本机构工作人员查看。",
        (
            *_INSTITUTION_READ,
            "institutions.change_institution",
            "institutions.add_department",
            "institutions.change_department",
            "institutions.delete_department",
            "dictionary.view_institutionsetting",
            "dictionary.change_institutionsetting",
            "accounts.view_user",
            "medical_records.view_archivesource",
            "medical_records.view_copyapplication",
            *_ERX_READ,
            "erx.manage_centreconnection",
            "erx.replay_centrecall",
            "erx.change_drugcatalogueentry",
            "supervision.view_indicatorvalue",
            "supervision.view_alert",
            *_VISITS_READ,
            *_VISITS_MANAGE,
            "visits.add_nodetemplate",
        ),
    ),
    BuiltinRole(
        "record_room_reviewer",
        "病案室审核员",
        Duty.BUSINESS,
        ScopeKind.INSTITUTION,
        "本机构病案复印申请的审核与处理。",
        (
            *_INSTITUTION_READ,
            "medical_records.view_copyapplication",
            "medical_records.review_copyapplication",
        ),
    ),
    BuiltinRole(
        "record_room_checker",
        "病案室复核员",
        Duty.BUSINESS,
        ScopeKind.INSTITUTION,
        "本机构病案复印申请的审核与处理，以及两级审核模式下的复核。",
        (
            *_INSTITUTION_READ,
            "medical_records.view_copyapplication",
            "medical_records.review_copyapplication",
            "medical_records.second_review_copyapplication",
        ),
    ),
)

ERX_ROLES: tuple[BuiltinRole, ...] = (
    BuiltinRole(
        "erx_doctor",
        "医保处方医师",
        Duty.BUSINESS,
        ScopeKind.INSTITUTION,
        "本机构医保电子处方的开具、修改、删除、预核验、签名上传与撤销，购药提示单打印。",
        (
            *_INSTITUTION_READ,
            "erx.view_prescription",
            "erx.add_prescription",
            "erx.change_prescription",
            "erx.delete_prescription",
            "erx.prescribe_prescription",
            "erx.view_drugcatalogueentry",
        ),
    ),
    BuiltinRole(
        "erx_pharmacist",
        "院内审方药师",
        Duty.BUSINESS,
        ScopeKind.INSTITUTION,
        "本机构医保电子处方的院内审核，处方中心审核与取药结果查询，药品目录查询与同步，异常重放。",
        (
            *_INSTITUTION_READ,
            *_ERX_READ,
            "erx.review_prescription",
            "erx.replay_centrecall",
            "erx.change_drugcatalogueentry",
        ),
    ),
)
SUPERVISION_ROLES: tuple[BuiltinRole, ...] = (
    BuiltinRole(
        "supervision_operator",
        "监管数据运维员",
        Duty.BUSINESS,
        ScopeKind.DISTRICT,
        "监管平台的数据采集、清洗与指标作业：运行记录、按日重跑、数据交换、预警规则维护。",
        (
            *_SUPERVISION_READ,
            "supervision.rerun_jobrun",
            "supervision.add_alertrule",
            "supervision.change_alertrule",
            "supervision.handle_alert",
        ),
    ),
)
BUILTIN_ROLES = (*BUILTIN_ROLES, *ERX_ROLES, *SUPERVISION_ROLES)

ADMIN_DUTIES = frozenset({Duty.SYSTEM, Duty.SECURITY, Duty.AUDIT})
