#include "schemas/record_refs.h"

namespace custos {

uint32_t ResourceRefOf(const v1::Record& r) {
  switch (r.kind_case()) {
    case v1::Record::kLog: return r.log().resource_ref();
    case v1::Record::kMetric: return r.metric().resource_ref();
    case v1::Record::kSpan: return r.span().resource_ref();
    case v1::Record::kGpuSample: return r.gpu_sample().resource_ref();
    case v1::Record::kGpuEvent: return r.gpu_event().resource_ref();
    case v1::Record::kAccess: return r.access().resource_ref();
    case v1::Record::kGap: return r.gap().resource_ref();
    case v1::Record::KIND_NOT_SET: return 0;
  }
  return 0;
}

void SetResourceRef(v1::Record* r, uint32_t ref) {
  switch (r->kind_case()) {
    case v1::Record::kLog: r->mutable_log()->set_resource_ref(ref); break;
    case v1::Record::kMetric: r->mutable_metric()->set_resource_ref(ref); break;
    case v1::Record::kSpan: r->mutable_span()->set_resource_ref(ref); break;
    case v1::Record::kGpuSample: r->mutable_gpu_sample()->set_resource_ref(ref); break;
    case v1::Record::kGpuEvent: r->mutable_gpu_event()->set_resource_ref(ref); break;
    case v1::Record::kAccess: r->mutable_access()->set_resource_ref(ref); break;
    case v1::Record::kGap: r->mutable_gap()->set_resource_ref(ref); break;
    case v1::Record::KIND_NOT_SET: break;
  }
}

uint64_t TimeOf(const v1::Record& r) {
  switch (r.kind_case()) {
    case v1::Record::kLog: return r.log().time_unix_nano();
    case v1::Record::kMetric: return r.metric().time_unix_nano();
    case v1::Record::kSpan: return r.span().start_time_unix_nano();
    case v1::Record::kGpuSample: return r.gpu_sample().time_unix_nano();
    case v1::Record::kGpuEvent: return r.gpu_event().time_unix_nano();
    case v1::Record::kAccess: return r.access().time_unix_nano();
    case v1::Record::kGap: return r.gap().time_unix_nano();
    case v1::Record::KIND_NOT_SET: return 0;
  }
  return 0;
}

std::string EntityOf(const v1::Batch& batch, uint32_t resource_ref) {
  if (resource_ref >= static_cast<uint32_t>(batch.resources_size())) return "";
  const v1::Resource& r = batch.resources(static_cast<int>(resource_ref));
  if (!r.service_name().empty()) return r.service_name();
  if (!r.systemd_unit().empty()) return r.systemd_unit();
  return "node:" + r.node_id();
}

}  // namespace custos
