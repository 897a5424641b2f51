// Loading coditect.api_catalog() and following its changes: a dedicated libpq connection
// LISTENs on coditect_catalog (the way PostgREST reloads its schema cache) and hands the new
// catalog over; when the connection is lost it reconnects with backoff and loads the catalog
// again, since a notification may have been missed meanwhile.
#pragma once

#include <atomic>
#include <functional>
#include <optional>
#include <string>
#include <thread>

namespace coditect::gateway {

// The catalog's JSON text, or nullopt with *error set.
std::optional<std::string> fetch_catalog(const std::string& database_url, std::string* error);

class CatalogListener {
 public:
  using OnCatalog = std::function<void(const std::string& catalog_text)>;
  using Log = std::function<void(const std::string& event, const std::string& detail)>;
  CatalogListener(std::string database_url, OnCatalog on_catalog, Log log);
  ~CatalogListener();  // stops the thread
  CatalogListener(const CatalogListener&) = delete;
  CatalogListener& operator=(const CatalogListener&) = delete;

 private:
  void run();
  bool wait(int ms);  // false when asked to stop

  std::string url_;
  OnCatalog on_catalog_;
  Log log_;
  int wake_fd_ = -1;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace coditect::gateway
