#include "audit_diff.hpp"

#include <algorithm>
#include <stdexcept>

namespace coditect {

namespace {

constexpr std::string_view kRedacted = "[REDACTED]";

bool contains(const std::vector<std::string>& list, std::string_view item) {
  return std::find(list.begin(), list.end(), item) != list.end();
}

bool is_identifier(std::string_view s) {
  if (s.empty() || s.size() > 63) return false;
  if (!(s[0] == '_' || (s[0] >= 'a' && s[0] <= 'z'))) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return c == '_' || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
  });
}

bool same_value(const FieldValue& a, const FieldValue& b) {
  if (a.kind == JsonKind::Null || b.kind == JsonKind::Null) return a.kind == b.kind;
  return a.kind == b.kind && a.text == b.text;
}

void append_field_value(std::string& out, const FieldValue& v, bool redact) {
  if (redact && v.kind != JsonKind::Null) {
    append_json_string(out, kRedacted);
  } else {
    append_json_value(out, v);
  }
}

}  // namespace

bool AuditConfig::is_excluded(std::string_view column) const { return contains(excluded, column); }
bool AuditConfig::is_redacted(std::string_view column) const { return contains(redacted, column); }

AuditConfig parse_audit_args(const std::vector<std::string_view>& args) {
  AuditConfig config;
  for (std::string_view arg : args) {
    auto eq = arg.find('=');
    if (eq == std::string_view::npos) {
      throw std::invalid_argument("audit trigger argument \"" + std::string(arg) +
                                  "\" is not of the form key=value");
    }
    std::string_view key = arg.substr(0, eq);
    std::string_view value = arg.substr(eq + 1);
    if (!is_identifier(value)) {
      throw std::invalid_argument("audit trigger argument \"" + std::string(arg) +
                                  "\" needs a lower-case identifier as its value");
    }
    if (key == "resource") {
      config.resource = value;
    } else if (key == "exclude") {
      config.excluded.emplace_back(value);
    } else if (key == "redact") {
      config.redacted.emplace_back(value);
    } else if (key == "tenant_column") {
      config.tenant_column = value;
    } else if (key == "soft_delete") {
      config.soft_delete_column = value;
    } else {
      throw std::invalid_argument("unknown audit trigger argument \"" + std::string(key) + "\"");
    }
  }
  if (config.resource.empty()) {
    throw std::invalid_argument("audit trigger needs a resource=<name> argument");
  }
  config.resource_type = resource_type_name(config.resource);
  return config;
}

std::string resource_type_name(std::string_view resource) {
  std::string out;
  out.reserve(resource.size());
  bool upper = true;
  for (char c : resource) {
    if (c == '_') {
      upper = true;
      continue;
    }
    out.push_back(upper && c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c);
    upper = false;
  }
  return out;
}

AuditVerb classify_change(RowOp op, const AuditConfig& config, bool deleted_before,
                          bool deleted_after) {
  const bool soft_table = !config.soft_delete_column.empty();
  switch (op) {
    case RowOp::Insert:
      return {"create", "info", false};
    case RowOp::Delete:
      // On a soft-delete table a real DELETE only happens in maintenance (purge).
      return {soft_table ? "purge" : "delete", "warning", false};
    case RowOp::Update:
      if (soft_table && !deleted_before && deleted_after) return {"delete", "warning", true};
      if (soft_table && deleted_before && !deleted_after) return {"restore", "info", false};
      return {"update", "info", false};
  }
  throw std::logic_error("unknown row operation");
}

std::string build_changes(RowOp op, const std::vector<Field>& fields, const AuditConfig& config) {
  std::string out;
  out.reserve(64 + fields.size() * 32);
  out.push_back('{');
  bool first = true;
  for (const Field& f : fields) {
    if (config.is_excluded(f.name)) continue;
    if (op == RowOp::Update && same_value(f.old_value, f.new_value)) continue;
    const bool redact = config.is_redacted(f.name);
    if (!first) out.push_back(',');
    first = false;
    append_json_string(out, f.name);
    out.append(":[");
    if (op == RowOp::Insert) {
      out.append("null");
    } else {
      append_field_value(out, f.old_value, redact);
    }
    out.push_back(',');
    if (op == RowOp::Delete) {
      out.append("null");
    } else {
      append_field_value(out, f.new_value, redact);
    }
    out.push_back(']');
  }
  out.push_back('}');
  return out;
}

std::string build_metadata(std::string_view table, std::string_view db_user,
                           unsigned long long txid, bool soft_delete) {
  std::string out = "{\"table\":";
  append_json_string(out, table);
  out.append(",\"db_user\":");
  append_json_string(out, db_user);
  out.append(",\"txid\":");
  out.append(std::to_string(txid));
  if (soft_delete) out.append(",\"soft_delete\":true");
  out.push_back('}');
  return out;
}

namespace {

bool is_lower_identifier(std::string_view s) {
  if (s.empty() || s[0] < 'a' || s[0] > 'z') return false;
  for (char c : s)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) return false;
  return true;
}

}  // namespace

std::string event_action_problem(std::string_view action) {
  const size_t dot = action.find('.');
  if (action.size() > 100 || dot == std::string_view::npos ||
      !is_lower_identifier(action.substr(0, dot)) || !is_lower_identifier(action.substr(dot + 1)))
    return "an audit action is <resource>.<verb> in lower-case letters, digits and _ "
           "(at most 100 characters)";
  return {};
}

std::string event_resource_type_problem(std::string_view resource_type) {
  bool ok = !resource_type.empty() && resource_type.size() <= 100 && resource_type[0] >= 'A' &&
            resource_type[0] <= 'Z';
  for (char c : resource_type)
    ok = ok && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'));
  if (!ok) return "an audit resource type is PascalCase letters and digits (at most 100)";
  return {};
}

std::string event_severity_problem(std::string_view severity) {
  if (severity == "info" || severity == "warning" || severity == "error" || severity == "critical")
    return {};
  return "an audit severity is info, warning, error or critical";
}

void append_json_string(std::string& out, std::string_view s) {
  static const char kHex[] = "0123456789abcdef";
  out.push_back('"');
  for (char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"':
        out.append("\\\"");
        break;
      case '\\':
        out.append("\\\\");
        break;
      case '\n':
        out.append("\\n");
        break;
      case '\r':
        out.append("\\r");
        break;
      case '\t':
        out.append("\\t");
        break;
      case '\b':
        out.append("\\b");
        break;
      case '\f':
        out.append("\\f");
        break;
      default:
        if (c < 0x20) {
          out.append("\\u00");
          out.push_back(kHex[c >> 4]);
          out.push_back(kHex[c & 0x0F]);
        } else {
          out.push_back(ch);
        }
    }
  }
  out.push_back('"');
}

bool is_json_number(std::string_view s) {
  std::size_t i = 0, n = s.size();
  auto digits = [&] {
    std::size_t start = i;
    while (i < n && s[i] >= '0' && s[i] <= '9') ++i;
    return i > start;
  };
  if (i < n && s[i] == '-') ++i;
  if (i < n && s[i] == '0') {
    ++i;
  } else if (!digits()) {
    return false;
  }
  if (i < n && s[i] == '.') {
    ++i;
    if (!digits()) return false;
  }
  if (i < n && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < n && (s[i] == '+' || s[i] == '-')) ++i;
    if (!digits()) return false;
  }
  return i == n;
}

void append_json_value(std::string& out, const FieldValue& value) {
  switch (value.kind) {
    case JsonKind::Null:
      out.append("null");
      return;
    case JsonKind::Bool:
      out.append(value.text == "t" || value.text == "true" ? "true" : "false");
      return;
    case JsonKind::Number:
      if (is_json_number(value.text)) {
        out.append(value.text);
      } else {
        append_json_string(out, value.text);
      }
      return;
    case JsonKind::Json:
      out.append(value.text);
      return;
    case JsonKind::String:
      append_json_string(out, value.text);
      return;
  }
}

}  // namespace coditect
