#include "sim/camera/device.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <ctime>
#include <utility>

namespace twinrig::sim::camera {
namespace {

OperationResult Code(std::uint16_t code, std::vector<std::uint32_t> params = {}) {
  OperationResult r;
  r.code = code;
  r.params = std::move(params);
  return r;
}

OperationResult WithData(std::vector<std::uint8_t> bytes) {
  OperationResult r;
  r.has_data = true;
  r.data_length = bytes.size();
  r.data = std::make_shared<const std::vector<std::uint8_t>>(std::move(bytes));
  return r;
}

std::uint32_t Param(const OperationRequest& request, std::size_t i) {
  return i < request.params.size() ? request.params[i] : 0;
}

std::string NowPtpDate() {
  std::time_t now = std::time(nullptr);
  std::tm tm{};
  localtime_r(&now, &tm);
  std::array<char, 32> text{};
  std::strftime(text.data(), text.size(), "%Y%m%dT%H%M%S", &tm);
  return text.data();
}

// "6000x4000" -> {6000, 4000}; {0, 0} when it does not parse.
std::pair<int, int> ParseSize(const std::string& size) {
  auto x = size.find('x');
  if (x == std::string::npos) return {0, 0};
  int w = 0;
  int h = 0;
  auto r1 = std::from_chars(size.data(), size.data() + x, w);
  auto r2 = std::from_chars(size.data() + x + 1, size.data() + size.size(), h);
  if (r1.ec != std::errc() || r2.ec != std::errc()) return {0, 0};
  return {w, h};
}

// Large, medium and small as "WxH": the sensor, about 2/3 of it and half of it (even sizes).
std::vector<std::string> ImageSizes(int width, int height) {
  std::vector<std::string> sizes;
  for (const auto& [num, den] : {std::pair{1, 1}, std::pair{2, 3}, std::pair{1, 2}}) {
    const int w = width * num / den / 2 * 2;
    const int h = height * num / den / 2 * 2;
    std::string text = std::to_string(w) + "x" + std::to_string(h);
    if (w > 0 && h > 0 && std::find(sizes.begin(), sizes.end(), text) == sizes.end()) {
      sizes.push_back(std::move(text));
    }
  }
  return sizes;
}

double WhiteBalanceKelvin(std::uint16_t code) {
  switch (code) {
    case 5:
      return 4000;  // fluorescent
    case 6:
      return 3200;  // tungsten
    default:
      return 5500;  // manual, auto, daylight and flash all match the 5500 K studio lights
  }
}

int JpegQuality(int compression) {
  switch (compression) {
    case 1:
      return 50;
    case 2:
      return 75;
    default:
      return 92;
  }
}

std::size_t TypeSize(std::uint16_t type) {
  switch (type) {
    case datatype::kUint8:
      return 1;
    case datatype::kUint16:
      return 2;
    default:
      return 4;
  }
}

}  // namespace

Device::Device(CameraConfig config) : config_(std::move(config)) {
  const std::string date = NowPtpDate();
  objects_[kDcimHandle] = Object{0, fmt_code::kAssociation, "DCIM", nullptr, 0, 0, date, true};
  objects_[kFolderHandle] =
      Object{kDcimHandle, fmt_code::kAssociation, kFolderName, nullptr, 0, 0, date, true};

  auto add = [this](Property p) { properties_[p.code] = std::move(p); };
  Property battery{prop::kBatteryLevel, datatype::kUint8, false};
  battery.number = battery.default_number = static_cast<std::uint32_t>(config_.battery_level);
  battery.range = true;
  battery.min = 0;
  battery.max = 100;
  battery.step = 1;
  add(battery);

  Property iso{prop::kExposureIndex, datatype::kUint16, true, 100, 100};
  iso.numbers = {100, 200, 400, 800, 1600, 3200, 6400};
  add(iso);

  // ExposureTime is in units of 0.1 ms: 1/1000 s = 10 ... 1 s = 10000.
  Property shutter{prop::kExposureTime, datatype::kUint32, true, 80, 80};
  shutter.numbers = {10, 20, 40, 80, 166, 333, 666, 1250, 2500, 5000, 10000};
  add(shutter);

  // FNumber is f x 100.
  Property aperture{prop::kFNumber, datatype::kUint16, true, 800, 800};
  aperture.numbers = {280, 400, 560, 800, 1100, 1600};
  add(aperture);

  Property wb{prop::kWhiteBalance, datatype::kUint16, true, 4, 4};
  wb.numbers = {1, 2, 4, 5, 6, 7};
  add(wb);

  Property size{prop::kImageSize, datatype::kString, true};
  size.texts = ImageSizes(config_.sensor_width, config_.sensor_height);
  size.text = size.default_text = size.texts.front();
  add(size);

  // No CompressionSetting (0x5004): its values are vendor-defined, and libgphoto2 names them only
  // for Nikon and Sony bodies ("Unknown value 0003" for a generic one). The generic camera shoots
  // fine JPEG; the quality a technician sets is a vendor property of a vendor's body.

  Property target{prop::kCaptureTarget, datatype::kUint8, true, 1, 1};
  target.numbers = {0, 1};
  add(target);
}

OperationResult Device::Handle(const OperationRequest& request,
                               std::span<const std::uint8_t> data_out, SessionState& session) {
  std::lock_guard lock(mutex_);
  switch (request.code) {
    case op::kGetDeviceInfo:
      return DeviceInfo();
    case op::kOpenSession: {
      std::uint32_t id = Param(request, 0);
      if (id == 0) return Code(rc::kInvalidParameter);
      if (session.open) return Code(rc::kSessionAlreadyOpen, {session.session_id});
      session.open = true;
      session.session_id = id;
      return Code(rc::kOk);
    }
    default:
      break;
  }
  if (!session.open) return Code(rc::kSessionNotOpen);
  switch (request.code) {
    case op::kCloseSession:
      session = SessionState{};
      return Code(rc::kOk);
    case op::kGetStorageIds: {
      DataWriter w;
      const std::array<std::uint32_t, 1> ids{kStorageId};
      w.ArrayU32(ids);
      return WithData(w.Take());
    }
    case op::kGetStorageInfo:
      return StorageInfo(request);
    case op::kGetNumObjects: {
      OperationResult r = ObjectHandles(request);
      if (r.code != rc::kOk) return r;
      DataReader count(std::span(*r.data));
      return Code(rc::kOk, {count.U32()});
    }
    case op::kGetObjectHandles:
      return ObjectHandles(request);
    case op::kGetObjectInfo:
      return ObjectInfo(request);
    case op::kGetObject:
    case op::kGetPartialObject:
      return GetObject(request);
    case op::kDeleteObject:
      return DeleteObject(request);
    case op::kInitiateCapture:
      return InitiateCapture();
    case op::kGetDevicePropDesc:
      return PropDesc(request);
    case op::kGetDevicePropValue:
      return PropValue(request);
    case op::kSetDevicePropValue:
      return SetPropValue(request, data_out);
    default:
      return Code(rc::kOperationNotSupported);
  }
}

OperationResult Device::DeviceInfo() const {
  static constexpr std::array<std::uint16_t, 15> kOperations{
      op::kGetDeviceInfo,      op::kOpenSession,        op::kCloseSession,
      op::kGetStorageIds,      op::kGetStorageInfo,     op::kGetNumObjects,
      op::kGetObjectHandles,   op::kGetObjectInfo,      op::kGetObject,
      op::kDeleteObject,       op::kInitiateCapture,    op::kGetDevicePropDesc,
      op::kGetDevicePropValue, op::kSetDevicePropValue, op::kGetPartialObject};
  static constexpr std::array<std::uint16_t, 5> kEvents{ev::kObjectAdded, ev::kObjectRemoved,
                                                        ev::kDevicePropChanged, ev::kStoreFull,
                                                        ev::kCaptureComplete};
  static constexpr std::array<std::uint16_t, 1> kCaptureFormats{fmt_code::kExifJpeg};
  static constexpr std::array<std::uint16_t, 2> kImageFormats{fmt_code::kExifJpeg,
                                                              fmt_code::kAssociation};
  std::vector<std::uint16_t> props;
  props.reserve(properties_.size());
  for (const auto& [code, p] : properties_) props.push_back(code);
  DataWriter w;
  w.U16(100);  // PTP 1.00
  w.U32(0);    // VendorExtensionID 0: libgphoto2 takes the generic PTP path
  w.U16(0);
  w.String("");
  w.U16(0);  // functional mode: standard
  w.ArrayU16(kOperations).ArrayU16(kEvents).ArrayU16(props);
  w.ArrayU16(kCaptureFormats).ArrayU16(kImageFormats);
  w.String(config_.manufacturer).String(config_.model).String(config_.firmware_version);
  w.String(config_.serial);
  return WithData(w.Take());
}

std::uint64_t Device::FreeBytesLocked() const {
  if (fault_.card_full) return 0;
  return config_.storage_capacity_bytes - std::min(used_bytes_, config_.storage_capacity_bytes);
}

std::uint32_t Device::BatteryLocked() const {
  if (fault_.battery_level)
    return static_cast<std::uint32_t>(std::clamp(*fault_.battery_level, 0, 100));
  return properties_.at(prop::kBatteryLevel).number;
}

OperationResult Device::StorageInfo(const OperationRequest& request) const {
  if (Param(request, 0) != kStorageId) return Code(rc::kInvalidStorageId);
  const std::uint64_t free = FreeBytesLocked();
  DataWriter w;
  w.U16(4);  // removable RAM (a card)
  w.U16(2);  // generic hierarchical
  w.U16(0);  // read-write
  w.U64(config_.storage_capacity_bytes).U64(free);
  w.U32(static_cast<std::uint32_t>(std::min<std::uint64_t>(
      free / std::max<std::size_t>(config_.synthetic_jpeg_bytes, 1), 0xFFFFFFFEU)));
  w.String("SD card").String(config_.serial);
  return WithData(w.Take());
}

OperationResult Device::ObjectHandles(const OperationRequest& request) const {
  const std::uint32_t storage = Param(request, 0);
  const std::uint32_t format = Param(request, 1);
  const std::uint32_t parent = Param(request, 2);
  if (storage != 0xFFFFFFFF && storage != kStorageId) return Code(rc::kInvalidStorageId);
  if (parent != 0 && parent != 0xFFFFFFFF) {
    auto it = objects_.find(parent);
    if (it == objects_.end()) return Code(rc::kInvalidObjectHandle);
  }
  std::vector<std::uint32_t> handles;
  for (const auto& [handle, object] : objects_) {
    if (format != 0 && object.format != format) continue;
    // 0xFFFFFFFF: objects in the root; 0: every object; else the children of `parent`.
    if (parent == 0xFFFFFFFF && object.parent != 0) continue;
    if (parent != 0 && parent != 0xFFFFFFFF && object.parent != parent) continue;
    handles.push_back(handle);
  }
  DataWriter w;
  w.ArrayU32(handles);
  return WithData(w.Take());
}

OperationResult Device::ObjectInfo(const OperationRequest& request) const {
  auto it = objects_.find(Param(request, 0));
  if (it == objects_.end()) return Code(rc::kInvalidObjectHandle);
  const Object& o = it->second;
  const bool folder = o.format == fmt_code::kAssociation;
  DataWriter w;
  w.U32(kStorageId).U16(o.format).U16(0);
  w.U32(o.data ? static_cast<std::uint32_t>(o.data->size()) : 0);
  w.U16(0).U32(0).U32(0).U32(0);  // no thumbnail
  w.U32(static_cast<std::uint32_t>(o.width)).U32(static_cast<std::uint32_t>(o.height));
  w.U32(folder ? 0 : 24);
  w.U32(o.parent);
  w.U16(folder ? 1 : 0);  // association type: generic folder
  w.U32(0).U32(0);        // association description, sequence number
  w.String(o.name).String(o.date).String(o.date).String("");
  return WithData(w.Take());
}

OperationResult Device::GetObject(const OperationRequest& request) const {
  auto it = objects_.find(Param(request, 0));
  if (it == objects_.end()) return Code(rc::kInvalidObjectHandle);
  if (!it->second.data) return Code(rc::kInvalidObjectHandle);  // folders have no data
  OperationResult r;
  r.has_data = true;
  r.object_transfer = true;
  r.data = it->second.data;
  const std::size_t size = r.data->size();
  if (request.code == op::kGetPartialObject) {
    const std::size_t offset = Param(request, 1);
    if (offset > size) return Code(rc::kInvalidParameter);
    r.data_offset = offset;
    r.data_length = std::min<std::size_t>(Param(request, 2), size - offset);
    r.params = {static_cast<std::uint32_t>(r.data_length)};
  } else {
    r.data_length = size;
  }
  return r;
}

OperationResult Device::DeleteObject(const OperationRequest& request) {
  const std::uint32_t handle = Param(request, 0);
  auto erase = [this](std::map<std::uint32_t, Object>::iterator it) {
    if (it->second.on_card && it->second.data) used_bytes_ -= it->second.data->size();
    return objects_.erase(it);
  };
  if (handle == 0xFFFFFFFF) {
    for (auto it = objects_.begin(); it != objects_.end();) {
      it = it->second.format == fmt_code::kAssociation ? std::next(it) : erase(it);
    }
    return Code(rc::kOk);
  }
  auto it = objects_.find(handle);
  if (it == objects_.end()) return Code(rc::kInvalidObjectHandle);
  if (it->second.format == fmt_code::kAssociation) return Code(rc::kObjectWriteProtected);
  erase(it);
  return Code(rc::kOk);
}

OperationResult Device::InitiateCapture() const {
  if (fault_.busy_on_capture) return Code(rc::kDeviceBusy);
  const bool to_card = properties_.at(prop::kCaptureTarget).number == 1;
  if (to_card && FreeBytesLocked() < config_.synthetic_jpeg_bytes) return Code(rc::kStoreFull);
  OperationResult r;
  r.capture_requested = true;
  return r;
}

void Device::WriteValue(DataWriter& w, const Property& p, bool current) const {
  std::uint32_t number = current ? p.number : p.default_number;
  if (current && p.code == prop::kBatteryLevel) number = BatteryLocked();
  switch (p.type) {
    case datatype::kUint8:
      w.U8(static_cast<std::uint8_t>(number));
      break;
    case datatype::kUint16:
      w.U16(static_cast<std::uint16_t>(number));
      break;
    case datatype::kUint32:
      w.U32(number);
      break;
    default:
      w.String(current ? p.text : p.default_text);
      break;
  }
}

OperationResult Device::PropDesc(const OperationRequest& request) const {
  auto it = properties_.find(static_cast<std::uint16_t>(Param(request, 0)));
  if (it == properties_.end()) return Code(rc::kDevicePropNotSupported);
  const Property& p = it->second;
  DataWriter w;
  w.U16(p.code).U16(p.type).U8(p.settable ? 1 : 0);
  WriteValue(w, p, false);
  WriteValue(w, p, true);
  auto put = [&](std::uint32_t v) {
    Property tmp = p;
    tmp.code = 0;  // plain value, not the live battery level
    tmp.number = v;
    WriteValue(w, tmp, true);
  };
  if (p.range) {
    w.U8(1);
    put(p.min);
    put(p.max);
    put(p.step);
  } else {
    w.U8(2);
    if (p.type == datatype::kString) {
      w.U16(static_cast<std::uint16_t>(p.texts.size()));
      for (const auto& t : p.texts) w.String(t);
    } else {
      w.U16(static_cast<std::uint16_t>(p.numbers.size()));
      for (std::uint32_t v : p.numbers) put(v);
    }
  }
  return WithData(w.Take());
}

OperationResult Device::PropValue(const OperationRequest& request) const {
  auto it = properties_.find(static_cast<std::uint16_t>(Param(request, 0)));
  if (it == properties_.end()) return Code(rc::kDevicePropNotSupported);
  DataWriter w;
  WriteValue(w, it->second, true);
  return WithData(w.Take());
}

OperationResult Device::SetPropValue(const OperationRequest& request,
                                     std::span<const std::uint8_t> data) {
  auto it = properties_.find(static_cast<std::uint16_t>(Param(request, 0)));
  if (it == properties_.end()) return Code(rc::kDevicePropNotSupported);
  Property& p = it->second;
  if (!p.settable) return Code(rc::kAccessDenied);
  DataReader r(data);
  if (p.type == datatype::kString) {
    std::string text = r.String();
    if (r.failed() || r.remaining() != 0) return Code(rc::kInvalidDevicePropFormat);
    if (std::find(p.texts.begin(), p.texts.end(), text) == p.texts.end()) {
      return Code(rc::kInvalidDevicePropValue);
    }
    p.text = text;
    return Code(rc::kOk);
  }
  if (data.size() != TypeSize(p.type)) return Code(rc::kInvalidDevicePropFormat);
  std::uint32_t value = p.type == datatype::kUint8    ? r.U8()
                        : p.type == datatype::kUint16 ? r.U16()
                                                      : r.U32();
  const bool allowed =
      p.range ? (value >= p.min && value <= p.max)
              : std::find(p.numbers.begin(), p.numbers.end(), value) != p.numbers.end();
  if (!allowed) return Code(rc::kInvalidDevicePropValue);
  p.number = value;
  return Code(rc::kOk);
}

ExposureSettings Device::SettingsLocked() const {
  ExposureSettings s;
  s.iso = static_cast<int>(properties_.at(prop::kExposureIndex).number);
  s.shutter_s = properties_.at(prop::kExposureTime).number / 10000.0;
  s.aperture_f = properties_.at(prop::kFNumber).number / 100.0;
  s.white_balance = static_cast<std::uint16_t>(properties_.at(prop::kWhiteBalance).number);
  s.white_balance_k = WhiteBalanceKelvin(s.white_balance);
  s.image_size = properties_.at(prop::kImageSize).text;
  std::tie(s.width, s.height) = ParseSize(s.image_size);
  s.jpeg_quality = JpegQuality(s.compression);
  s.capture_target = static_cast<int>(properties_.at(prop::kCaptureTarget).number);
  return s;
}

ExposureSettings Device::Settings() const {
  std::lock_guard lock(mutex_);
  return SettingsLocked();
}

Result<Device::Stored> Device::StoreImage(std::shared_ptr<const std::vector<std::uint8_t>> bytes,
                                          const ExposureSettings& settings) {
  std::lock_guard lock(mutex_);
  const bool on_card = settings.capture_target == 1;
  if (on_card && FreeBytesLocked() < bytes->size()) {
    return MakeError(fmt::format("card full: {} bytes free, image of {} bytes not stored",
                                 FreeBytesLocked(), bytes->size()),
                     config_.serial, "delete images from the camera or clear the card_full fault");
  }
  Stored stored;
  stored.handle = next_handle_++;
  stored.filename = fmt::format("TWR_{:04d}.JPG", next_file_number_);
  next_file_number_ = next_file_number_ % 9999 + 1;
  if (on_card) used_bytes_ += bytes->size();
  objects_[stored.handle] =
      Object{kFolderHandle,  fmt_code::kExifJpeg, stored.filename, std::move(bytes),
             settings.width, settings.height,     NowPtpDate(),    on_card};
  return stored;
}

void Device::SetFault(const Fault& fault) {
  std::lock_guard lock(mutex_);
  fault_ = fault;
}

std::uint64_t Device::FreeBytes() const {
  std::lock_guard lock(mutex_);
  return FreeBytesLocked();
}

std::size_t Device::ImageCount() const {
  std::lock_guard lock(mutex_);
  return static_cast<std::size_t>(
      std::count_if(objects_.begin(), objects_.end(),
                    [](const auto& o) { return o.second.format != fmt_code::kAssociation; }));
}

}  // namespace twinrig::sim::camera
