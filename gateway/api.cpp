#include "api.hpp"

#include "openapi.hpp"

namespace coditect::gateway {

Api::Api(Catalog catalog, std::string text, std::uint64_t gen, const std::string& public_url)
    : routes(std::move(catalog)),
      catalog_text(std::move(text)),
      generation(gen),
      openapi(openapi_document(routes, public_url).dump()) {}

std::shared_ptr<const Api> load_api(const std::string& catalog_text, std::uint64_t generation,
                                    const std::string& public_url) {
  return std::make_shared<const Api>(parse_catalog_text(catalog_text), catalog_text, generation,
                                     public_url);
}

}  // namespace coditect::gateway
