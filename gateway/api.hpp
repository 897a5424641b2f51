// PG-free: one generation of the API as loaded from the catalog (routes and the OpenAPI
// document). The app swaps the whole of it at once when the catalog changes.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "routes.hpp"

namespace coditect::gateway {

struct Api {
  Api(Catalog catalog, std::string text, std::uint64_t generation, const std::string& public_url);
  RouteTable routes;
  std::string catalog_text;  // as loaded: an unchanged catalog is not loaded again
  std::uint64_t generation;  // connections prepared for an older one re-prepare
  std::string openapi;       // the document, rendered once
};

// Throws CatalogError.
std::shared_ptr<const Api> load_api(const std::string& catalog_text, std::uint64_t generation,
                                    const std::string& public_url);

}  // namespace coditect::gateway
