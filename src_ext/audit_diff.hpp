// PG-free half of the audit trigger: trigger-argument parsing, action naming and the JSON
// `changes` / `metadata` documents. The glue (pg_audit.cpp) turns tuples into Field lists.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace coditect {

// How a column value is written to JSON; the glue chooses it from the column's type.
enum class JsonKind { Null, Number, Bool, Json, String };

struct FieldValue {
  JsonKind kind = JsonKind::Null;
  std::string_view text;  // the type's output text; ignored for Null
};

struct Field {
  std::string_view name;
  FieldValue old_value;  // Null on INSERT
  FieldValue new_value;  // Null on DELETE
};

enum class RowOp { Insert, Update, Delete };

// Per-table settings, given as trigger arguments "resource=project", "exclude=col",
// "redact=col", "tenant_column=id", "soft_delete=deleted_at".
struct AuditConfig {
  std::string resource;       // "project": actions are "project.create", ...
  std::string resource_type;  // "Project"
  std::string tenant_column = "tenant_id";
  std::string soft_delete_column;  // empty when the table is not soft-deleted
  std::vector<std::string> excluded;
  std::vector<std::string> redacted;

  bool is_excluded(std::string_view column) const;
  bool is_redacted(std::string_view column) const;
};

// Throws std::invalid_argument with a readable message on a malformed argument.
AuditConfig parse_audit_args(const std::vector<std::string_view>& args);

// "team_member" -> "TeamMember".
std::string resource_type_name(std::string_view resource);

struct AuditVerb {
  std::string verb;      // create, update, delete, restore, purge
  std::string severity;  // info or warning
  bool soft_delete = false;
};

// For an UPDATE of a soft-delete table, `deleted_before` / `deleted_after` say whether the
// soft-delete column was set before and after; they turn the update into delete / restore.
AuditVerb classify_change(RowOp op, const AuditConfig& config, bool deleted_before,
                          bool deleted_after);

// {"column": [old, new], ...}: every given field on INSERT / DELETE, only the changed ones on
// UPDATE. Excluded columns are skipped; redacted non-null values become "[REDACTED]".
std::string build_changes(RowOp op, const std::vector<Field>& fields, const AuditConfig& config);

// {"table": ..., "db_user": ..., "txid": ..., "soft_delete": true?}
std::string build_metadata(std::string_view table, std::string_view db_user,
                           unsigned long long txid, bool soft_delete);

// Audit events (coditect_internal.audit_event): what a caller may name. An action is
// "<resource>.<verb>", both lower-case identifiers ([a-z][a-z0-9_]*), at most 100 characters
// in all, as the row trigger's actions are; a resource type is PascalCase ([A-Z][A-Za-z0-9]*,
// at most 100), as resource_type_name() makes them; severity is info, warning, error or
// critical. Each returns the problem, or "" when the value is fine.
std::string event_action_problem(std::string_view action);
std::string event_resource_type_problem(std::string_view resource_type);
std::string event_severity_problem(std::string_view severity);

// Appends `s` as a JSON string literal (RFC 8259 escaping).
void append_json_string(std::string& out, std::string_view s);
// Appends a value of the given kind; numbers that are not valid JSON (NaN, Infinity) become
// strings, booleans arrive as PostgreSQL's "t" / "f".
void append_json_value(std::string& out, const FieldValue& value);
bool is_json_number(std::string_view s);

}  // namespace coditect
