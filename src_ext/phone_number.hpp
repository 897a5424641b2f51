// Phone numbers in E.164 through libphonenumber, free of PostgreSQL so that GoogleTest covers it.
#pragma once

#include <string>

namespace coditect::phone {

// The outcome of normalizing one number: e164 ("+442079460958") and calling_code (44) when ok,
// else a sentence for the client in error.
struct Normalized {
  bool ok = false;
  std::string e164;
  int calling_code = 0;
  std::string error;
};

// Parses `number` as dialled in `region` (ISO 3166-1 alpha-2, e.g. "GB": national forms such as
// "020 7946 0958" are read as that country's), and accepts it only if it is a valid number of
// that region. An extension inside the number is refused: it has a field of its own.
Normalized normalize(const std::string& number, const std::string& region);

// The region's country calling code (1 for US and CA, 44 for GB), 0 for an unknown region.
int calling_code_of(const std::string& region);

}  // namespace coditect::phone
