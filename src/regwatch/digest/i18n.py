"""The digest's interface text in English and Japanese (subscriber.language picks one)."""

from __future__ import annotations

STRINGS: dict[str, dict[str, str]] = {
    "en": {
        "title": "regwatch weekly digest",
        "period": "Changes regwatch learned between {start} and {end} ({tz}).",
        "headlines": "Headlines",
        "changes_n": "{n} change(s)",
        "other_changes": "Other changes (no linked announcement)",
        "announcements": "Announcements without a recorded list change yet",
        "no_changes": "No control-list changes were found this week.",
        "maybe_incomplete": "Some sources had problems (see below), so this digest may be incomplete.",
        "admin": "Admin: source health",
        "announced": "Announced",
        "promulgated": "Promulgated",
        "effective": "Effective",
        "observed": "Observed",
        "unknown": "not known",
        "not_in_force": "not yet in force",
        "found_late": "found late: in a text observed before this period",
        "found_again": "found again: retracted on {date}",
        "unofficial": "unofficial (press report)",
        "outside_wassenaar": "outside Wassenaar",
        "before": "Before",
        "after": "After",
        "sources": "Sources",
        "full_report": "Full report",
        "change_type.added": "added",
        "change_type.removed": "removed",
        "change_type.amended": "amended",
        "change_type.renumbered": "renumbered",
        "renumbered_from": "formerly",
        "footer": "You receive this because {email} subscribes to regwatch digests.",
        "last_error": "last error",
        "corrections": "Date corrections (changes reported earlier)",
        "corrected_for": "{n} provision(s)",
        "and_more": "and {n} more",
        "retracted": "Retracted: changes reported earlier that regwatch no longer finds",
        "retracted_why": "A corrected parser or a corrected source text no longer shows these "
                         "changes; disregard what earlier digests said of them.",
    },
    "ja": {
        "title": "regwatch 週次ダイジェスト",
        "period": "{start} から {end} まで（{tz}）に regwatch が把握した変更です。",
        "headlines": "主な動き",
        "changes_n": "変更 {n} 件",
        "other_changes": "その他の変更（関連する発表なし）",
        "announcements": "リストの変更がまだ記録されていない発表",
        "no_changes": "今週は規制リストの変更はありませんでした。",
        "maybe_incomplete": "一部の情報源に問題があるため（下記参照）、このダイジェストは不完全な可能性があります。",
        "admin": "管理者向け：情報源の状態",
        "announced": "発表日",
        "promulgated": "公布日",
        "effective": "施行日",
        "observed": "検知日時",
        "unknown": "不明",
        "not_in_force": "未施行",
        "found_late": "遅れて検出（この期間より前に取得した本文）",
        "found_again": "再検出（{date}に取消し）",
        "unofficial": "非公式（報道）",
        "outside_wassenaar": "ワッセナー対象外",
        "before": "改正前",
        "after": "改正後",
        "sources": "出典",
        "full_report": "詳細レポート",
        "change_type.added": "追加",
        "change_type.removed": "削除",
        "change_type.amended": "改正",
        "change_type.renumbered": "番号変更",
        "renumbered_from": "旧",
        "footer": "{email} が regwatch ダイジェストを購読しているため、このメールをお送りしています。",
        "last_error": "直近のエラー",
        "corrections": "日付の訂正（既報の変更）",
        "corrected_for": "{n} 件の規定",
        "and_more": "ほか {n} 件",
        "retracted": "取消し：以前お知らせした変更のうち、現在は確認できないもの",
        "retracted_why": "解析の修正または原文の訂正により、これらの変更は確認できなくなりました。"
                         "以前のダイジェストの該当箇所は無視してください。",
    },
}

REGIMES: dict[str, dict[str, str]] = {
    "en": {"wassenaar": "Wassenaar", "nsg": "NSG", "ag": "Australia Group", "mtcr": "MTCR",
           "cwc": "CWC", "unilateral": "national (unilateral)", "unknown": "regime unknown"},
    "ja": {"wassenaar": "ワッセナー", "nsg": "NSG", "ag": "オーストラリア・グループ",
           "mtcr": "MTCR", "cwc": "化学兵器禁止条約", "unilateral": "独自規制",
           "unknown": "レジーム不明"},
}

# Badge colours (inline CSS survives every mail client; text stays readable without them).
REGIME_COLOURS = {"wassenaar": "#1d4ed8", "nsg": "#7c3aed", "ag": "#047857", "mtcr": "#b45309",
                  "cwc": "#be123c", "unilateral": "#b91c1c", "unknown": "#4b5563"}


def subject(lang: str, *, changes: int, not_in_force: int, announcements: int,
            problems: int, week_of: str, corrections: int = 0, retracted: int = 0) -> str:
    """'regwatch: 3 control-list changes, 1 not yet in force — week of 2024-09-02'."""
    if lang == "ja":
        parts = [f"規制リストの変更 {changes}件" if changes else "規制リストの変更なし"]
        if not_in_force:
            parts[0] += f"（うち未施行 {not_in_force}件）"
        if announcements:
            parts.append(f"発表 {announcements}件")
        if corrections:
            parts.append(f"日付の訂正 {corrections}件")
        if retracted:
            parts.append(f"取消し {retracted}件")
        if problems:
            parts.append(f"情報源の異常 {problems}件")
        return f"regwatch: {'、'.join(parts)} — {week_of} の週"
    parts = [_plural(changes, "control-list change") if changes else "no control-list changes"]
    if not_in_force:
        parts.append(f"{not_in_force} not yet in force")
    if announcements:
        parts.append(_plural(announcements, "announcement"))
    if corrections:
        parts.append(_plural(corrections, "date correction"))
    if retracted:
        parts.append(f"{retracted} retracted")
    if problems:
        parts.append(_plural(problems, "source problem"))
    return f"regwatch: {', '.join(parts)} — week of {week_of}"


def _plural(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"
