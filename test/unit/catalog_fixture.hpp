// The fixture catalog (test/unit/fixtures/catalog.json, shaped as coditect.api_catalog()
// answers) for the gateway's unit tests.
#pragma once

#include <fstream>
#include <sstream>
#include <string>

#include <nlohmann/json.hpp>

inline std::string fixture_catalog_text() {
  std::ifstream in(std::string(CODITECT_FIXTURES_DIR) + "/catalog.json");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline nlohmann::json fixture_catalog() { return nlohmann::json::parse(fixture_catalog_text()); }
