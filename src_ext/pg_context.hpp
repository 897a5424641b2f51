// Request context of the current transaction, kept in backend memory (never in a GUC, which any
// role could SET). Set by coditect.set_request_context(), cleared when the transaction ends.
#pragma once

extern "C" {
#include "postgres.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/uuid.h"
}

namespace coditect::pg {

struct RequestContext {
  bool active = false;
  pg_uuid_t tenant_id{};
  pg_uuid_t user_id{};
  char user_role[16] = {};
  Datum client_ip = 0;  // inet, palloc'd in TopTransactionContext; 0 when absent
  char* user_agent = nullptr;
  char* request_method = nullptr;
  char* request_path = nullptr;
  int nest_level = 0;  // subtransaction level that set it
};

const RequestContext& request_context();

Oid relation_owner(Oid relid);
Oid internal_relid(const char* schema, const char* name);

// Runs `fn` inside an SPI connection as the owner of schema.name (the extension's superuser
// owner), the way PostgreSQL's RI triggers do, so internal reads and writes do not depend on
// the caller's grants. An error in `fn` is left to (sub)transaction abort, which restores both.
template <typename F>
void spi_as_owner_of(const char* schema, const char* name, F&& fn) {
  Oid save_user;
  int save_sec;
  GetUserIdAndSecContext(&save_user, &save_sec);
  SetUserIdAndSecContext(relation_owner(internal_relid(schema, name)),
                         save_sec | SECURITY_LOCAL_USERID_CHANGE);
  if (SPI_connect() != SPI_OK_CONNECT) elog(ERROR, "SPI_connect failed");
  fn();
  SPI_finish();
  SetUserIdAndSecContext(save_user, save_sec);
}

}  // namespace coditect::pg
