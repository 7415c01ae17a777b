// Access to the fields every record kind shares, whichever kind a Record holds.
#pragma once

#include <cstdint>
#include <string>

#include "custos/v1/transport.pb.h"

#include "custos/v1/records.pb.h"

namespace custos {

// The resource_ref of the record `r` holds (0 when it holds none).
uint32_t ResourceRefOf(const v1::Record& r);
void SetResourceRef(v1::Record* r, uint32_t ref);
// Its timestamp (start time for spans); 0 when unset.
uint64_t TimeOf(const v1::Record& r);

// The entity a record of `batch` with `resource_ref` is about, as the
// collector's analyses name it: the service, else the systemd unit, else
// "node:<id>"; "" for a ref outside the batch's resources.
std::string EntityOf(const v1::Batch& batch, uint32_t resource_ref);

}  // namespace custos
