#include "phone_number.hpp"

#include <phonenumbers/phonenumber.pb.h>
#include <phonenumbers/phonenumberutil.h>

namespace coditect::phone {

using i18n::phonenumbers::PhoneNumber;
using i18n::phonenumbers::PhoneNumberUtil;

Normalized normalize(const std::string& number, const std::string& region) {
  Normalized out;
  const PhoneNumberUtil& util = *PhoneNumberUtil::GetInstance();
  if (util.GetCountryCodeForRegion(region) == 0) {
    out.error = "unknown phone region \"" + region + "\"";
    return out;
  }
  PhoneNumber parsed;
  if (util.Parse(number, region, &parsed) != PhoneNumberUtil::NO_PARSING_ERROR) {
    out.error = "\"" + number + "\" is not a phone number";
    return out;
  }
  if (parsed.has_extension()) {
    out.error = "\"" + number + "\" has an extension: give it in the extension field";
    return out;
  }
  if (!util.IsValidNumberForRegion(parsed, region)) {
    out.error = "\"" + number + "\" is not a valid phone number of " + region;
    return out;
  }
  util.Format(parsed, PhoneNumberUtil::E164, &out.e164);
  out.calling_code = parsed.country_code();
  out.ok = true;
  return out;
}

int calling_code_of(const std::string& region) {
  return PhoneNumberUtil::GetInstance()->GetCountryCodeForRegion(region);
}

}  // namespace coditect::phone
