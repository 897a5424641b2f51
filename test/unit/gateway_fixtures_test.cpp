// Every catalog in test/unit/fixtures/ (the hand-written one and api_catalog()'s real output,
// saved from a build of main) loads, routes each operation to itself, and gives an OpenAPI
// document whose references all resolve. Drop a newer api_catalog() output there to check it.
#include <gtest/gtest.h>

#include <dirent.h>

#include <fstream>
#include <functional>
#include <sstream>

#include "openapi.hpp"

using namespace coditect::gateway;
using nlohmann::json;

namespace {

std::vector<std::string> fixture_files() {
  std::vector<std::string> out;
  std::string dir = CODITECT_FIXTURES_DIR;
  if (DIR* d = opendir(dir.c_str())) {
    while (dirent* e = readdir(d)) {
      std::string n = e->d_name;
      if (n.size() > 5 && n.substr(n.size() - 5) == ".json") out.push_back(dir + "/" + n);
    }
    closedir(d);
  }
  return out;
}

std::string read(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

TEST(GatewayFixtures, EveryCatalogRoutesAndDocumentsEveryOperation) {
  auto files = fixture_files();
  ASSERT_GE(files.size(), 2u);
  for (const auto& f : files) {
    SCOPED_TRACE(f);
    RouteTable t(parse_catalog_text(read(f)));
    for (const auto& r : t.routes()) {
      std::string path = r.op.path;
      for (size_t i; (i = path.find('{')) != std::string::npos;)
        path.replace(i, path.find('}') - i + 1, "0190a6e5-7b1c-7cc3-9b2e-1234567890ab");
      auto m = t.match(r.op.method, path);
      ASSERT_TRUE(m.route) << r.op.method << " " << path;
      EXPECT_EQ(m.route->op.operation_id, r.op.operation_id);
      EXPECT_EQ(m.path_params.size(), r.path_params.size());
    }
    // Body fields are typed (in their param or in request.fields).
    for (const auto& op : t.catalog().operations)
      for (const auto& p : op.params)
        if (p.from == Source::BodyField) {
          EXPECT_NE(p.type.json_type, "any") << op.operation_id;
        }
    json doc = openapi_document(t, "");
    std::function<void(const json&)> walk = [&](const json& j) {
      if (j.is_object()) {
        for (auto it = j.begin(); it != j.end(); ++it) {
          if (it.key() == "$ref")
            EXPECT_TRUE(doc["components"]["schemas"].contains(
                it->get<std::string>().substr(std::string("#/components/schemas/").size())))
                << *it;
          else
            walk(*it);
        }
      } else if (j.is_array()) {
        for (const auto& e : j) walk(e);
      }
    };
    walk(doc);
    size_t ops = 0;
    for (const auto& [path, item] : doc["paths"].items()) ops += item.size();
    EXPECT_EQ(ops, t.routes().size());
    // Every resource has its row schema, every read column in it and required.
    for (const auto& r : t.catalog().resources) {
      const json& s = doc["components"]["schemas"][r.schema_name];
      ASSERT_TRUE(s.is_object()) << r.schema_name;
      size_t readable = 0;
      for (const auto& c : r.columns) readable += c.read;
      EXPECT_EQ(s["properties"].size(), readable) << r.schema_name;
      EXPECT_EQ(s["required"].size(), readable) << r.schema_name;
      // A declared example is the Create schema's, and names only its properties.
      const json& c = doc["components"]["schemas"][r.schema_name + "Create"];
      if (r.example.is_object() && c.is_object()) {
        ASSERT_TRUE(c.contains("examples")) << r.schema_name;
        for (const auto& [k, v] : c["examples"][0].items())
          EXPECT_TRUE(c["properties"].contains(k)) << r.schema_name << "." << k;
      }
    }
  }
}
