// Unit tests for the PG-free half of the audit trigger (src_ext/audit_diff.hpp).
#include "audit_diff.hpp"

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace coditect {
namespace {

using Args = std::vector<std::string_view>;

FieldValue null_v() { return {JsonKind::Null, {}}; }
FieldValue num(std::string_view t) { return {JsonKind::Number, t}; }
FieldValue str(std::string_view t) { return {JsonKind::String, t}; }
FieldValue boolean(std::string_view t) { return {JsonKind::Bool, t}; }
FieldValue json(std::string_view t) { return {JsonKind::Json, t}; }

std::string json_string(std::string_view s) {
  std::string out;
  append_json_string(out, s);
  return out;
}

std::string json_value(const FieldValue& v) {
  std::string out;
  append_json_value(out, v);
  return out;
}

// Returns the message of the std::invalid_argument thrown by parse_audit_args, or fails.
std::string parse_error(const Args& args) {
  try {
    parse_audit_args(args);
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  ADD_FAILURE() << "parse_audit_args did not throw std::invalid_argument";
  return {};
}

bool contains(const std::string& haystack, std::string_view needle) {
  return haystack.find(needle) != std::string::npos;
}

// ---------------------------------------------------------------------------------------------
// parse_audit_args / resource_type_name

TEST(ParseAuditArgsTest, AllKeys) {
  AuditConfig c =
      parse_audit_args({"resource=team_member", "exclude=updated_at", "exclude=search_vector",
                        "redact=password_hash", "redact=api_token", "tenant_column=org_id",
                        "soft_delete=deleted_at"});
  EXPECT_EQ(c.resource, "team_member");
  EXPECT_EQ(c.resource_type, "TeamMember");
  EXPECT_EQ(c.tenant_column, "org_id");
  EXPECT_EQ(c.soft_delete_column, "deleted_at");
  EXPECT_EQ(c.excluded, (std::vector<std::string>{"updated_at", "search_vector"}));
  EXPECT_EQ(c.redacted, (std::vector<std::string>{"password_hash", "api_token"}));
  EXPECT_TRUE(c.is_excluded("updated_at"));
  EXPECT_TRUE(c.is_excluded("search_vector"));
  EXPECT_FALSE(c.is_excluded("password_hash"));
  EXPECT_TRUE(c.is_redacted("password_hash"));
  EXPECT_TRUE(c.is_redacted("api_token"));
  EXPECT_FALSE(c.is_redacted("updated_at"));
  EXPECT_FALSE(c.is_redacted("api"));
}

TEST(ParseAuditArgsTest, Defaults) {
  AuditConfig c = parse_audit_args({"resource=project"});
  EXPECT_EQ(c.resource, "project");
  EXPECT_EQ(c.resource_type, "Project");
  EXPECT_EQ(c.tenant_column, "tenant_id");
  EXPECT_TRUE(c.soft_delete_column.empty());
  EXPECT_TRUE(c.excluded.empty());
  EXPECT_TRUE(c.redacted.empty());
}

TEST(ParseAuditArgsTest, ArgumentOrderDoesNotMatter) {
  AuditConfig c = parse_audit_args({"exclude=x", "soft_delete=archived_at", "resource=project"});
  EXPECT_EQ(c.resource, "project");
  EXPECT_EQ(c.soft_delete_column, "archived_at");
  EXPECT_TRUE(c.is_excluded("x"));
}

TEST(ParseAuditArgsTest, IdentifierValuesAccepted) {
  std::string max63 = "a" + std::string(62, 'b');
  std::string arg = "resource=" + max63;
  AuditConfig c = parse_audit_args({arg, "exclude=_private", "redact=col2"});
  EXPECT_EQ(c.resource, max63);
  EXPECT_TRUE(c.is_excluded("_private"));
  EXPECT_TRUE(c.is_redacted("col2"));
}

TEST(ParseAuditArgsTest, MissingResource) {
  EXPECT_THROW(parse_audit_args({}), std::invalid_argument);
  EXPECT_THROW(parse_audit_args({"exclude=updated_at", "redact=secret"}), std::invalid_argument);
  EXPECT_TRUE(contains(parse_error({"exclude=updated_at"}), "resource"));
}

TEST(ParseAuditArgsTest, MissingEquals) {
  std::string msg = parse_error({"resource"});
  EXPECT_TRUE(contains(msg, "\"resource\"")) << msg;
  EXPECT_TRUE(contains(msg, "key=value")) << msg;
  EXPECT_THROW(parse_audit_args({"resource=project", "exclude"}), std::invalid_argument);
  EXPECT_THROW(parse_audit_args({"resource=project", ""}), std::invalid_argument);
}

TEST(ParseAuditArgsTest, UnknownKey) {
  std::string msg = parse_error({"resource=project", "colour=red"});
  EXPECT_TRUE(contains(msg, "unknown")) << msg;
  EXPECT_TRUE(contains(msg, "colour")) << msg;
  EXPECT_THROW(parse_audit_args({"resource=project", "=x"}), std::invalid_argument);
  EXPECT_THROW(parse_audit_args({"resource=project", "Exclude=x"}), std::invalid_argument);
  EXPECT_THROW(parse_audit_args({"resource=project", "exclude =x"}), std::invalid_argument);
}

TEST(ParseAuditArgsTest, NonIdentifierValue) {
  const char* bad[] = {
      "resource=",             // empty
      "resource=Project",      // upper case
      "resource=team-member",  // dash
      "resource=1project",     // leading digit
      "resource=a b",          // space
      "resource=x;drop",       // punctuation
      "resource=a=b",          // second '='
      "resource=\"quoted\"",   // quotes
  };
  for (const char* arg : bad) {
    EXPECT_THROW(parse_audit_args({arg}), std::invalid_argument) << arg;
  }
  std::string too_long = "resource=" + std::string(64, 'a');
  EXPECT_THROW(parse_audit_args({too_long}), std::invalid_argument);
  EXPECT_THROW(parse_audit_args({"resource=project", "exclude=Bad"}), std::invalid_argument);
  EXPECT_THROW(parse_audit_args({"resource=project", "redact=a.b"}), std::invalid_argument);
  EXPECT_THROW(parse_audit_args({"resource=project", "tenant_column="}), std::invalid_argument);
  EXPECT_THROW(parse_audit_args({"resource=project", "soft_delete=Deleted"}),
               std::invalid_argument);
  std::string msg = parse_error({"resource=Project"});
  EXPECT_TRUE(contains(msg, "resource=Project")) << msg;
}

TEST(ResourceTypeNameTest, Examples) {
  EXPECT_EQ(resource_type_name("team_member"), "TeamMember");
  EXPECT_EQ(resource_type_name("project"), "Project");
  EXPECT_EQ(resource_type_name("api_key_scope"), "ApiKeyScope");
  EXPECT_EQ(resource_type_name("x"), "X");
  EXPECT_EQ(resource_type_name("v2_item"), "V2Item");
  EXPECT_EQ(resource_type_name(""), "");
}

// ---------------------------------------------------------------------------------------------
// classify_change

void expect_verb(const AuditVerb& v, const char* verb, const char* severity, bool soft_delete) {
  EXPECT_EQ(v.verb, verb);
  EXPECT_EQ(v.severity, severity);
  EXPECT_EQ(v.soft_delete, soft_delete);
}

TEST(ClassifyChangeTest, PlainTable) {
  AuditConfig c = parse_audit_args({"resource=project"});
  for (bool before : {false, true}) {
    for (bool after : {false, true}) {
      SCOPED_TRACE(::testing::Message() << "before=" << before << " after=" << after);
      expect_verb(classify_change(RowOp::Insert, c, before, after), "create", "info", false);
      expect_verb(classify_change(RowOp::Update, c, before, after), "update", "info", false);
      expect_verb(classify_change(RowOp::Delete, c, before, after), "delete", "warning", false);
    }
  }
}

TEST(ClassifyChangeTest, SoftDeleteTable) {
  AuditConfig c = parse_audit_args({"resource=project", "soft_delete=deleted_at"});
  expect_verb(classify_change(RowOp::Insert, c, false, false), "create", "info", false);
  // A real DELETE on a soft-delete table is a purge.
  expect_verb(classify_change(RowOp::Delete, c, false, false), "purge", "warning", false);
  expect_verb(classify_change(RowOp::Delete, c, true, true), "purge", "warning", false);
  // deleted_at: null -> set is the soft delete.
  expect_verb(classify_change(RowOp::Update, c, false, true), "delete", "warning", true);
  // deleted_at: set -> null is a restore.
  expect_verb(classify_change(RowOp::Update, c, true, false), "restore", "info", false);
  // Other updates stay updates, deleted or not.
  expect_verb(classify_change(RowOp::Update, c, false, false), "update", "info", false);
  expect_verb(classify_change(RowOp::Update, c, true, true), "update", "info", false);
}

// ---------------------------------------------------------------------------------------------
// build_changes

TEST(BuildChangesTest, InsertListsEveryNonExcludedField) {
  AuditConfig c = parse_audit_args({"resource=project", "exclude=search_vector"});
  std::vector<Field> fields = {
      {"id", null_v(), num("7")},
      {"name", null_v(), str("Apollo")},
      {"search_vector", null_v(), str("'apollo':1")},
      {"active", null_v(), boolean("t")},
      {"description", null_v(), null_v()},
  };
  EXPECT_EQ(build_changes(RowOp::Insert, fields, c),
            R"({"id":[null,7],"name":[null,"Apollo"],"active":[null,true],)"
            R"("description":[null,null]})");
}

TEST(BuildChangesTest, InsertIgnoresOldValue) {
  AuditConfig c = parse_audit_args({"resource=project"});
  std::vector<Field> fields = {{"id", num("1"), num("2")}};
  EXPECT_EQ(build_changes(RowOp::Insert, fields, c), R"({"id":[null,2]})");
}

TEST(BuildChangesTest, DeleteListsEveryNonExcludedField) {
  AuditConfig c = parse_audit_args({"resource=project", "exclude=updated_at"});
  std::vector<Field> fields = {
      {"id", num("7"), null_v()},
      {"updated_at", str("2024-01-01 00:00:00+00"), null_v()},
      {"name", str("Apollo"), num("99")},  // new value must be ignored on DELETE
      {"archived", boolean("f"), null_v()},
  };
  EXPECT_EQ(build_changes(RowOp::Delete, fields, c),
            R"({"id":[7,null],"name":["Apollo",null],"archived":[false,null]})");
}

TEST(BuildChangesTest, UpdateListsOnlyChangedFields) {
  AuditConfig c = parse_audit_args({"resource=project"});
  std::vector<Field> fields = {
      {"id", num("7"), num("7")},                            // unchanged
      {"name", str("Apollo"), str("Artemis")},               // changed
      {"budget", num("10.50"), num("10.5")},                 // text differs: changed
      {"notes", null_v(), null_v()},                         // null -> null: unchanged
      {"owner", null_v(), str("alice")},                     // null -> value
      {"tag", str("x"), null_v()},                           // value -> null
      {"empty", null_v(), str("")},                          // null vs empty string differ
      {"settings", json(R"({"a":1})"), json(R"({"a":1})")},  // unchanged json
      {"flag", boolean("t"), boolean("t")},                  // unchanged bool
  };
  EXPECT_EQ(build_changes(RowOp::Update, fields, c),
            R"({"name":["Apollo","Artemis"],"budget":[10.50,10.5],"owner":[null,"alice"],)"
            R"("tag":["x",null],"empty":[null,""]})");
}

TEST(BuildChangesTest, UpdateWithNoChangesIsEmptyObject) {
  AuditConfig c = parse_audit_args({"resource=project", "exclude=updated_at"});
  std::vector<Field> fields = {
      {"id", num("7"), num("7")},
      {"updated_at", str("2024-01-01"), str("2024-01-02")},  // changed but excluded
  };
  EXPECT_EQ(build_changes(RowOp::Update, fields, c), "{}");
  EXPECT_EQ(build_changes(RowOp::Insert, {}, c), "{}");
}

TEST(BuildChangesTest, ExcludedColumnsNeverAppear) {
  AuditConfig c = parse_audit_args({"resource=user", "exclude=password_hash", "exclude=etag"});
  std::vector<Field> fields = {
      {"password_hash", str("old"), str("new")},
      {"email", str("a@x"), str("b@x")},
      {"etag", num("1"), num("2")},
  };
  for (RowOp op : {RowOp::Insert, RowOp::Update, RowOp::Delete}) {
    std::string out = build_changes(op, fields, c);
    EXPECT_FALSE(contains(out, "password_hash")) << out;
    EXPECT_FALSE(contains(out, "etag")) << out;
    EXPECT_FALSE(contains(out, "old")) << out;
    EXPECT_TRUE(contains(out, "\"email\"")) << out;
  }
}

TEST(BuildChangesTest, RedactedValuesAreHidden) {
  AuditConfig c = parse_audit_args({"resource=user", "redact=password_hash", "redact=ssn"});
  std::vector<Field> update = {
      {"password_hash", str("secret1"), str("secret2")},
      {"ssn", null_v(), num("123456789")},
      {"email", str("a@x"), str("b@x")},
  };
  std::string out = build_changes(RowOp::Update, update, c);
  EXPECT_EQ(out, R"({"password_hash":["[REDACTED]","[REDACTED]"],"ssn":[null,"[REDACTED]"],)"
                 R"("email":["a@x","b@x"]})");
  EXPECT_FALSE(contains(out, "secret")) << out;
  EXPECT_FALSE(contains(out, "123456789")) << out;

  std::vector<Field> insert = {
      {"password_hash", null_v(), str("secret")}, {"ssn", null_v(), null_v()},  // null stays null
  };
  EXPECT_EQ(build_changes(RowOp::Insert, insert, c),
            R"({"password_hash":[null,"[REDACTED]"],"ssn":[null,null]})");

  std::vector<Field> del = {
      {"password_hash", str("secret"), null_v()},
      {"ssn", null_v(), null_v()},
  };
  EXPECT_EQ(build_changes(RowOp::Delete, del, c),
            R"({"password_hash":["[REDACTED]",null],"ssn":[null,null]})");

  // Redacted but unchanged: not listed on UPDATE.
  std::vector<Field> same = {{"password_hash", str("s"), str("s")}};
  EXPECT_EQ(build_changes(RowOp::Update, same, c), "{}");
}

TEST(BuildChangesTest, ExcludeWinsOverRedact) {
  AuditConfig c = parse_audit_args({"resource=user", "redact=token", "exclude=token"});
  std::vector<Field> fields = {{"token", null_v(), str("abc")}, {"id", null_v(), num("1")}};
  EXPECT_EQ(build_changes(RowOp::Insert, fields, c), R"({"id":[null,1]})");
}

TEST(BuildChangesTest, JsonKinds) {
  AuditConfig c = parse_audit_args({"resource=thing"});
  std::vector<Field> fields = {
      {"n", null_v(), num("-12.5e3")},
      {"nan", null_v(), num("NaN")},
      {"inf", null_v(), num("Infinity")},
      {"ninf", null_v(), num("-Infinity")},
      {"t", null_v(), boolean("t")},
      {"f", null_v(), boolean("f")},
      {"j", null_v(), json(R"({"k":[1,2,{"x":null}]})")},
      {"s", null_v(), str("say \"hi\"\\\n")},
      {"na\"me", null_v(), str("v")},
  };
  EXPECT_EQ(build_changes(RowOp::Insert, fields, c),
            R"({"n":[null,-12.5e3],"nan":[null,"NaN"],"inf":[null,"Infinity"],)"
            R"("ninf":[null,"-Infinity"],"t":[null,true],"f":[null,false],)"
            R"("j":[null,{"k":[1,2,{"x":null}]}],"s":[null,"say \"hi\"\\\n"],)"
            R"("na\"me":[null,"v"]})");
}

TEST(AppendJsonValueTest, Kinds) {
  EXPECT_EQ(json_value(null_v()), "null");
  EXPECT_EQ(json_value({JsonKind::Null, "ignored"}), "null");
  EXPECT_EQ(json_value(num("42")), "42");
  EXPECT_EQ(json_value(num("-0.5")), "-0.5");
  EXPECT_EQ(json_value(num("NaN")), "\"NaN\"");
  EXPECT_EQ(json_value(num("Infinity")), "\"Infinity\"");
  EXPECT_EQ(json_value(num("-Infinity")), "\"-Infinity\"");
  EXPECT_EQ(json_value(boolean("t")), "true");
  EXPECT_EQ(json_value(boolean("true")), "true");
  EXPECT_EQ(json_value(boolean("f")), "false");
  EXPECT_EQ(json_value(boolean("false")), "false");
  EXPECT_EQ(json_value(json("[1, \"a\"]")), "[1, \"a\"]");
  EXPECT_EQ(json_value(str("42")), "\"42\"");
  EXPECT_EQ(json_value(str("")), "\"\"");
  EXPECT_EQ(json_value(str("a\"b")), "\"a\\\"b\"");
}

// ---------------------------------------------------------------------------------------------
// append_json_string

TEST(AppendJsonStringTest, Escaping) {
  EXPECT_EQ(json_string(""), "\"\"");
  EXPECT_EQ(json_string("plain"), "\"plain\"");
  EXPECT_EQ(json_string("a\"b"), R"("a\"b")");
  EXPECT_EQ(json_string("a\\b"), R"("a\\b")");
  EXPECT_EQ(json_string("line1\nline2"), R"("line1\nline2")");
  EXPECT_EQ(json_string("a\tb"), R"("a\tb")");
  EXPECT_EQ(json_string("a\rb"), R"("a\rb")");
  EXPECT_EQ(json_string("\b\f"), R"("\b\f")");
  EXPECT_EQ(json_string("\x01"), R"("\u0001")");
  EXPECT_EQ(json_string("\x1f"), R"("\u001f")");
  EXPECT_EQ(json_string(std::string_view("a\0b", 3)), R"("a\u0000b")");
  // Printable ASCII, DEL and UTF-8 pass through unchanged; '/' needs no escape.
  EXPECT_EQ(json_string("/ ~\x7f"), "\"/ ~\x7f\"");
  EXPECT_EQ(json_string("caf\xc3\xa9 \xe2\x82\xac"), "\"caf\xc3\xa9 \xe2\x82\xac\"");
}

TEST(AppendJsonStringTest, AppendsToExistingContent) {
  std::string out = "prefix:";
  append_json_string(out, "x");
  EXPECT_EQ(out, "prefix:\"x\"");
}

// ---------------------------------------------------------------------------------------------
// is_json_number

TEST(IsJsonNumberTest, Accepts) {
  for (const char* s : {"0", "1", "-0", "-1", "42", "1234567890", "-0.5", "0.5", "3.14159", "1e10",
                        "1E10", "1e+10", "1e-10", "1.5E-3", "-2.5e+7", "0e0"}) {
    EXPECT_TRUE(is_json_number(s)) << s;
  }
}

TEST(IsJsonNumberTest, Rejects) {
  for (const char* s : {"",   "-",     "+1",   "01",  "-01", "00",       "1.",        ".5",  "-.5",
                        "1e", "1e+",   "1E-",  "e5",  "NaN", "Infinity", "-Infinity", "inf", " 1",
                        "1 ", "1.2.3", "0x10", "1,5", "--1", "1e5.5",    "abc"}) {
    EXPECT_FALSE(is_json_number(s)) << '"' << s << '"';
  }
}

// ---------------------------------------------------------------------------------------------
// build_metadata

TEST(BuildMetadataTest, ExactOutput) {
  EXPECT_EQ(build_metadata("projects", "app_user", 12345, false),
            R"({"table":"projects","db_user":"app_user","txid":12345})");
  EXPECT_EQ(build_metadata("projects", "app_user", 12345, true),
            R"({"table":"projects","db_user":"app_user","txid":12345,"soft_delete":true})");
  EXPECT_EQ(build_metadata("public.team_member", "postgres", 0, false),
            R"({"table":"public.team_member","db_user":"postgres","txid":0})");
  EXPECT_EQ(build_metadata("t", "u", 18446744073709551615ULL, false),
            R"({"table":"t","db_user":"u","txid":18446744073709551615})");
  EXPECT_EQ(build_metadata("we\"ird", "us\\er", 1, false),
            R"({"table":"we\"ird","db_user":"us\\er","txid":1})");
}

// ---------------------------------------------------------------------------------------------
// audit events: the names a caller of audit_event may use

TEST(AuditEventNamesTest, Actions) {
  for (const char* a : {"user.login", "permission.grant", "data.export", "request.refused",
                        "report.generate", "workflow_execution.start", "a1.b2"}) {
    EXPECT_EQ(event_action_problem(a), "") << a;
  }
  const std::string long_action = "a." + std::string(99, 'b');
  for (const std::string& a : std::vector<std::string>{
           "", "user", "user.", ".login", "User.login", "user.Login", "user.lo-gin",
           "user.login.again", "1user.login", "user._x", "user login", long_action}) {
    EXPECT_NE(event_action_problem(a), "") << a;
  }
  EXPECT_EQ(event_action_problem("a." + std::string(98, 'b')), "");
}

TEST(AuditEventNamesTest, ResourceTypes) {
  for (const char* t : {"User", "Membership", "DocumentGrant", "TaskAttachment", "A1"})
    EXPECT_EQ(event_resource_type_problem(t), "") << t;
  for (const std::string& t : std::vector<std::string>{
           "", "user", "Document Grant", "Document_Grant", "1User", std::string(101, 'A')})
    EXPECT_NE(event_resource_type_problem(t), "") << t;
}

TEST(AuditEventNamesTest, Severities) {
  for (const char* s : {"info", "warning", "error", "critical"})
    EXPECT_EQ(event_severity_problem(s), "") << s;
  for (const char* s : {"", "INFO", "debug", "fatal", "warn"})
    EXPECT_NE(event_severity_problem(s), "") << s;
}

}  // namespace
}  // namespace coditect
