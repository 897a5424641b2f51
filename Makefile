# PGXS build of the coditect extension: coditect.so from the C++17 sources in src_ext/, and the
# install script extension/coditect--$(EXT_VERSION).sql concatenated from sql/ in file-name order.
EXT_VERSION = 0.3.0
MODULE_big  = coditect
OBJS        = $(patsubst %.cpp,%.o,$(sort $(wildcard src_ext/*.cpp)))
MODULEDIR   = extension
DATA        = extension/coditect.control $(wildcard migrations/coditect--*--*.sql)
DATA_built  = extension/coditect--$(EXT_VERSION).sql
EXTRA_CLEAN = $(DATA_built)

PG_CXXFLAGS = -std=c++17 -O2 -Wall -Wextra -Wno-unused-parameter -Wno-register \
              -Wno-missing-field-initializers
SHLIB_LINK  = -lstdc++ -lcrypto -lhpdf -lphonenumber -licuuc

# Bookworm's PGXS would build JIT bitcode of the .cpp files with clang-14 and without
# PG_CXXFLAGS (so without -std=c++17); the extension gains nothing from JIT inlining.
override with_llvm = no

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# PGXS's own include flags come first; keep the server headers out of our warnings.
override CPPFLAGS := $(patsubst -I%,-isystem %,$(CPPFLAGS))

extension/coditect--$(EXT_VERSION).sql: extension/install-header.sql $(sort $(wildcard sql/*.sql))
	cat $^ > $@

.PHONY: format
format:
	clang-format -i src_ext/*.cpp src_ext/*.hpp test/unit/*.cpp

# TypeScript types of the REST API (clients/typescript/coditect.d.ts) from the gateway's OpenAPI
# document: `make typescript OPENAPI_URL=http://127.0.0.1:8080/api/schema/` from a running
# gateway, OPENAPI_FILE=... from a saved copy, or neither to start a private cluster and gateway.
.PHONY: typescript typescript-check
typescript typescript-check:
	scripts/typescript.sh $(if $(filter typescript-check,$@),check,generate) \
	  $(if $(OPENAPI_URL),--url '$(OPENAPI_URL)') $(if $(OPENAPI_FILE),--file '$(OPENAPI_FILE)')
