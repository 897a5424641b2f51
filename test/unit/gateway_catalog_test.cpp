// Parsing and checking the catalog that coditect.api_catalog() publishes.
#include <gtest/gtest.h>

#include "catalog.hpp"
#include "catalog_fixture.hpp"

using namespace coditect::gateway;
using nlohmann::json;

TEST(GatewayCatalog, ParsesTheFixture) {
  Catalog cat = parse_catalog(fixture_catalog());
  EXPECT_EQ(cat.version, "0.2.0");
  ASSERT_TRUE(cat.resource("project"));
  const Resource& p = *cat.resource("project");
  EXPECT_EQ(p.schema_name, "Project");
  EXPECT_EQ(p.item_path, "/api/v1/projects/{id}/");
  EXPECT_TRUE(p.search);
  EXPECT_TRUE(p.soft_delete);
  ASSERT_TRUE(p.column("deleted_at"));
  EXPECT_TRUE(p.column("deleted_at")->type.nullable);
  EXPECT_EQ(p.column("name")->type.max_length, 255);
  EXPECT_TRUE(p.column("name")->required);
  EXPECT_EQ(cat.resource("team_member")->parent_param, "team_id");
  EXPECT_TRUE(cat.resource("audit_log")->keyset_default);
  ASSERT_TRUE(cat.type("member_role"));
  EXPECT_EQ(cat.type("member_role")->values.size(), 4u);
  EXPECT_EQ(cat.type("license_grant")->kind, "composite");
  EXPECT_EQ(cat.resource("user")->column("role")->type.enum_type, "member_role");
  ASSERT_TRUE(cat.resource("license")->column("features")->type.items);
  EXPECT_EQ(cat.resource("license")->column("features")->type.items->json_type, "string");

  const Operation* release = nullptr;
  for (const auto& op : cat.operations)
    if (op.operation_id == "licenses_release") release = &op;
  ASSERT_TRUE(release);
  EXPECT_EQ(release->result, ResultKind::Void);
  ASSERT_EQ(release->params.size(), 1u);
  EXPECT_EQ(release->params[0].from, Source::BodyField);
  EXPECT_TRUE(release->params[0].also_query);
  EXPECT_EQ(release->params[0].type.format, "uuid");
}

namespace {

// The fixture with one operation changed by f.
std::string error_of(const std::function<void(json&)>& f) {
  json j = fixture_catalog();
  f(j);
  try {
    parse_catalog(j);
  } catch (const CatalogError& e) {
    return e.what();
  }
  return "";
}

json& op(json& j, const std::string& id) {
  for (auto& o : j["operations"])
    if (o["operation_id"] == id) return o;
  throw std::runtime_error("no operation " + id);
}

}  // namespace

TEST(GatewayCatalog, ErrorsNameTheEntry) {
  EXPECT_NE(error_of([](json& j) {
              op(j, "projects_get")["sql"] = "SELECT f($1, $2)";
            }).find("operation projects_get: sql uses $1..$2 but 1 params"),
            std::string::npos);
  EXPECT_NE(error_of([](json& j) {
              op(j, "projects_get")["path"] = "/api/v1/projects/{pid}/";
            }).find("operation projects_get: param {id} is not in the path"),
            std::string::npos);
  EXPECT_NE(error_of([](json& j) {
              op(j, "projects_get")["params"][0]["from"] = "cookie";
            }).find("unknown param source \"cookie\""),
            std::string::npos);
  EXPECT_NE(error_of([](json& j) {
              op(j, "projects_get")["params"][0] = {{"from", "header"}};
            }).find("a header param needs a name"),
            std::string::npos);
  EXPECT_NE(error_of([](json& j) {
              op(j, "projects_get")["response"] = {{"protocol", "ftp"}};
            }).find("operation projects_get: unknown protocol \"ftp\""),
            std::string::npos);
  EXPECT_NE(error_of([](json& j) {
              op(j, "projects_get")["response"] = {{"protocol", "tus_create"}};
            }).find("a tus creation needs max_size"),
            std::string::npos);
  EXPECT_NE(error_of([](json& j) {
              j["operations"].push_back(op(j, "projects_get"));
            }).find("operation projects_get is declared twice"),
            std::string::npos);
  EXPECT_NE(error_of([](json& j) {
              op(j, "projects_get")["resource"] = "nothing";
            }).find("unknown resource \"nothing\""),
            std::string::npos);
  EXPECT_NE(error_of([](json& j) {
              j["resources"][1]["columns"][4]["enum_type"] = "nope";
            }).find("is not an enum type"),
            std::string::npos);
  EXPECT_NE(error_of([](json& j) {
              op(j, "projects_get")["operation_id"] = "Projects Get";
            }).find("operation_id must be"),
            std::string::npos);
  EXPECT_NE(error_of([](json& j) {
              op(j, "projects_get")["sql"] = "SELECT 1; DROP x";
            }).find("one statement"),
            std::string::npos);
  EXPECT_NE(error_of([](json& j) { op(j, "projects_get")["status"] = 302; }).find("status"),
            std::string::npos);
  EXPECT_NE(error_of([](json& j) { op(j, "projects_get")["method"] = "TRACE"; }).find("method"),
            std::string::npos);
  EXPECT_NE(error_of([](json& j) {
              j["resources"][0]["columns"][0]["json_type"] = "date";
            }).find("unknown json_type"),
            std::string::npos);
  EXPECT_NE(error_of([](json& j) {
              j["resources"][1]["columns"][4]["resource"] = "nope";
            }).find("resource \"nope\" is not in the catalog"),
            std::string::npos);
  EXPECT_NE(error_of([](json& j) {
              j["resources"][1]["columns"][4]["composite"] = "member_role";
            }).find("composite \"member_role\" is not a composite type"),
            std::string::npos);
  EXPECT_NE(error_of([](json& j) {
              j["schemas"] = {{"Project", {{"type", "object"}}}};
            }).find("schema Project clashes"),
            std::string::npos);
  EXPECT_NE(error_of([](json& j) {
              j["schemas"] = {{"bad name", {{"type", "object"}}}};
            }).find("PascalCase"),
            std::string::npos);
  EXPECT_NE(error_of([](json& j) {
              j["schemas"] = {{"Flow", 3}};
            }).find("must be an object"),
            std::string::npos);
  EXPECT_THROW(parse_catalog_text("{"), CatalogError);
  EXPECT_THROW(parse_catalog_text("[]"), CatalogError);
}

TEST(GatewayCatalog, UnknownKeysAreIgnoredAndNullsAreAbsent) {
  json j = fixture_catalog();
  j["later"] = 1;
  op(j, "projects_get")["later"] = {{"x", 1}};
  op(j, "projects_get")["summary"] = nullptr;
  EXPECT_NO_THROW(parse_catalog(j));
}

TEST(GatewayCatalog, PascalCase) {
  EXPECT_EQ(pascal_case("license_grant"), "LicenseGrant");
  EXPECT_EQ(pascal_case("member_role"), "MemberRole");
  EXPECT_EQ(pascal_case("x"), "X");
}

// A GET that records a read runs read-write; a NULL answer may be declared a 404; a secret
// path parameter (a share's token) is marked for the log.
TEST(GatewayCatalog, WritesNullAnswerAndSecretParams) {
  json j = fixture_catalog();
  op(j, "projects_get")["writes"] = true;
  op(j, "licenses_public_keys")["response"] = {
      {"null_answer", {{"status", 404}, {"detail", "share not found"}}}};
  Catalog cat = parse_catalog(j);
  for (const auto& o : cat.operations) {
    if (o.operation_id == "projects_get") {
      EXPECT_TRUE(o.writes);
      EXPECT_FALSE(o.read_only());
    } else if (o.operation_id == "projects_list") {
      EXPECT_FALSE(o.writes);
      EXPECT_TRUE(o.read_only());
    } else if (o.operation_id == "licenses_public_keys") {
      EXPECT_EQ(o.null_answer_detail, std::optional<std::string>("share not found"));
    }
  }
  json s = fixture_catalog();
  op(s, "projects_get")["params"][0]["secret"] = true;
  Catalog with_secret = parse_catalog(s);
  for (const auto& o : with_secret.operations) {
    if (o.operation_id == "projects_get") {
      EXPECT_TRUE(o.params[0].secret);
    }
  }

  EXPECT_NE(error_of([](json& j) {
              op(j, "projects_get")["writes"] = "yes";
            }).find("\"writes\" must be true or false"),
            std::string::npos);
  EXPECT_NE(error_of([](json& j) {
              op(j, "projects_get")["response"] = {{"null_answer", {{"status", 200}}}};
            }).find("null_answer must be"),
            std::string::npos);
  EXPECT_NE(error_of([](json& j) {
              op(j, "licenses_release")["params"][0]["secret"] = true;
            }).find("only a path param can be secret"),
            std::string::npos);
}
