// The PTP device model without networking: sessions, the object tree, storage accounting,
// properties and the capture faults.
#include <catch2/catch.hpp>

#include "sim/camera/device.h"

namespace twinrig::sim::camera {
namespace {

OperationResult Run(Device& device, SessionState& session, std::uint16_t code,
                    std::vector<std::uint32_t> params = {},
                    std::span<const std::uint8_t> data = {}) {
  static std::uint32_t tid = 0;
  OperationRequest request;
  request.code = code;
  request.transaction_id = ++tid;
  request.params = std::move(params);
  return device.Handle(request, data, session);
}

std::vector<std::uint32_t> Handles(Device& device, SessionState& session, std::uint32_t parent) {
  auto r = Run(device, session, op::kGetObjectHandles, {kStorageId, 0, parent});
  REQUIRE(r.code == rc::kOk);
  DataReader reader(std::span(*r.data).subspan(r.data_offset, r.data_length));
  std::vector<std::uint32_t> out(reader.U32());
  for (auto& h : out) h = reader.U32();
  REQUIRE_FALSE(reader.failed());
  return out;
}

std::uint64_t FreeSpace(Device& device, SessionState& session) {
  auto r = Run(device, session, op::kGetStorageInfo, {kStorageId});
  REQUIRE(r.code == rc::kOk);
  DataReader reader(*r.data);
  reader.U16();
  reader.U16();
  reader.U16();
  reader.U64();
  return reader.U64();
}

CameraConfig Config() {
  CameraConfig config;
  config.serial = "DEV00001";
  config.manufacturer = "Maker";
  config.model = "Model";
  config.storage_capacity_bytes = 1'000'000;
  config.synthetic_jpeg_bytes = 100'000;
  return config;
}

TEST_CASE("the device answers DeviceInfo and refuses work outside a session", "[unit]") {
  Device device(Config());
  SessionState session;
  auto info = Run(device, session, op::kGetDeviceInfo);
  REQUIRE(info.code == rc::kOk);
  DataReader reader(*info.data);
  CHECK(reader.U16() == 100);
  CHECK(reader.U32() == 0);  // VendorExtensionID: the generic path in libgphoto2
  reader.U16();
  reader.String();
  reader.U16();
  for (int array = 0; array < 5; ++array) {
    std::uint32_t n = reader.U32();
    for (std::uint32_t i = 0; i < n; ++i) reader.U16();
  }
  CHECK(reader.String() == "Maker");
  CHECK(reader.String() == "Model");
  CHECK(reader.String() == "1.0.0");
  CHECK(reader.String() == "DEV00001");
  CHECK_FALSE(reader.failed());

  CHECK(Run(device, session, op::kGetStorageIds).code == rc::kSessionNotOpen);
  CHECK(Run(device, session, op::kOpenSession, {0}).code == rc::kInvalidParameter);
  CHECK(Run(device, session, op::kOpenSession, {1}).code == rc::kOk);
  CHECK(Run(device, session, op::kOpenSession, {1}).code == rc::kSessionAlreadyOpen);
  CHECK(Run(device, session, 0x9999).code == rc::kOperationNotSupported);
  CHECK(Run(device, session, op::kCloseSession).code == rc::kOk);
  CHECK_FALSE(session.open);
}

TEST_CASE("stored images use card space, show in the tree and give it back on delete", "[unit]") {
  Device device(Config());
  SessionState session;
  REQUIRE(Run(device, session, op::kOpenSession, {1}).code == rc::kOk);
  CHECK(Handles(device, session, 0xFFFFFFFF) == std::vector<std::uint32_t>{kDcimHandle});
  CHECK(Handles(device, session, kDcimHandle) == std::vector<std::uint32_t>{kFolderHandle});
  CHECK(FreeSpace(device, session) == 1'000'000);

  auto image = std::make_shared<const std::vector<std::uint8_t>>(400'000, 0xAB);
  auto stored = device.StoreImage(image, device.Settings());
  REQUIRE(stored.ok());
  CHECK(stored->filename == "TWR_0001.JPG");
  CHECK(FreeSpace(device, session) == 600'000);
  CHECK(Handles(device, session, kFolderHandle) == std::vector<std::uint32_t>{stored->handle});
  CHECK(Handles(device, session, 0).size() == 3);

  auto whole = Run(device, session, op::kGetObject, {stored->handle});
  CHECK(whole.code == rc::kOk);
  CHECK(whole.object_transfer);
  CHECK(whole.data_length == 400'000);
  auto part = Run(device, session, op::kGetPartialObject, {stored->handle, 399'000, 5000});
  CHECK(part.data_offset == 399'000);
  CHECK(part.data_length == 1000);
  CHECK(part.params == std::vector<std::uint32_t>{1000});
  CHECK(Run(device, session, op::kGetObject, {kFolderHandle}).code == rc::kInvalidObjectHandle);

  // Not enough room for a second, then a third, image of this size.
  REQUIRE(device.StoreImage(image, device.Settings()).ok());
  CHECK_FALSE(device.StoreImage(image, device.Settings()).ok());
  CHECK(FreeSpace(device, session) == 200'000);

  CHECK(Run(device, session, op::kDeleteObject, {kFolderHandle}).code == rc::kObjectWriteProtected);
  CHECK(Run(device, session, op::kDeleteObject, {stored->handle}).code == rc::kOk);
  CHECK(FreeSpace(device, session) == 600'000);
  CHECK(Run(device, session, op::kDeleteObject, {stored->handle}).code == rc::kInvalidObjectHandle);
  CHECK(Run(device, session, op::kDeleteObject, {0xFFFFFFFF}).code == rc::kOk);
  CHECK(FreeSpace(device, session) == 1'000'000);
  CHECK(device.ImageCount() == 0);
}

TEST_CASE("device properties take valid values and refuse others", "[unit]") {
  Device device(Config());
  SessionState session;
  REQUIRE(Run(device, session, op::kOpenSession, {1}).code == rc::kOk);
  auto set = [&](std::uint16_t code, std::vector<std::uint8_t> value) {
    OperationRequest request;
    request.code = op::kSetDevicePropValue;
    request.data_phase = kDataPhaseOut;
    request.params = {code};
    return device.Handle(request, value, session).code;
  };
  CHECK(set(prop::kExposureIndex, {0x90, 0x01}) == rc::kOk);  // ISO 400
  CHECK(set(prop::kExposureIndex, {0x91, 0x01}) == rc::kInvalidDevicePropValue);
  CHECK(set(prop::kExposureIndex, {0x90}) == rc::kInvalidDevicePropFormat);
  CHECK(set(prop::kExposureTime, {40, 0, 0, 0}) == rc::kOk);  // 1/250 s
  CHECK(set(prop::kBatteryLevel, {50}) == rc::kAccessDenied);
  CHECK(set(0x5555, {1}) == rc::kDevicePropNotSupported);
  DataWriter size;
  size.String("3000x2000");
  CHECK(set(prop::kImageSize, size.bytes()) == rc::kOk);
  DataWriter bad_size;
  bad_size.String("1x1");
  CHECK(set(prop::kImageSize, bad_size.bytes()) == rc::kInvalidDevicePropValue);
  CHECK(set(prop::kImageSize, {5, 'a', 0}) == rc::kInvalidDevicePropFormat);

  ExposureSettings s = device.Settings();
  CHECK(s.iso == 400);
  CHECK(s.shutter_s == Approx(0.004));
  CHECK(s.width == 3000);
  CHECK(s.height == 2000);

  auto value = Run(device, session, op::kGetDevicePropValue, {prop::kExposureIndex});
  CHECK(*value.data == std::vector<std::uint8_t>{0x90, 0x01});
  auto desc = Run(device, session, op::kGetDevicePropDesc, {prop::kBatteryLevel});
  REQUIRE(desc.code == rc::kOk);
  CHECK((*desc.data)[4] == 0);    // read-only
  CHECK((*desc.data)[6] == 100);  // current level
  Fault low;
  low.battery_level = 7;
  device.SetFault(low);
  desc = Run(device, session, op::kGetDevicePropDesc, {prop::kBatteryLevel});
  CHECK((*desc.data)[6] == 7);
}

TEST_CASE("capture faults: DeviceBusy and a full card", "[unit]") {
  Device device(Config());
  SessionState session;
  REQUIRE(Run(device, session, op::kOpenSession, {1}).code == rc::kOk);
  auto capture = Run(device, session, op::kInitiateCapture, {0, 0});
  CHECK(capture.code == rc::kOk);
  CHECK(capture.capture_requested);
  Fault busy;
  busy.busy_on_capture = true;
  device.SetFault(busy);
  capture = Run(device, session, op::kInitiateCapture, {0, 0});
  CHECK(capture.code == rc::kDeviceBusy);
  CHECK_FALSE(capture.capture_requested);
  Fault full;
  full.card_full = true;
  device.SetFault(full);
  CHECK(Run(device, session, op::kInitiateCapture, {0, 0}).code == rc::kStoreFull);
  CHECK(FreeSpace(device, session) == 0);
  auto image = std::make_shared<const std::vector<std::uint8_t>>(10, 0);
  CHECK_FALSE(device.StoreImage(image, device.Settings()).ok());
  // Capture target RAM: the card is not used, so a full card does not stop the shot.
  OperationRequest target;
  target.code = op::kSetDevicePropValue;
  target.params = {prop::kCaptureTarget};
  const std::vector<std::uint8_t> ram{0};
  REQUIRE(device.Handle(target, ram, session).code == rc::kOk);
  CHECK(Run(device, session, op::kInitiateCapture, {0, 0}).code == rc::kOk);
  CHECK(device.StoreImage(image, device.Settings()).ok());
  device.SetFault(Fault{});
  CHECK(FreeSpace(device, session) == 1'000'000);
}

}  // namespace
}  // namespace twinrig::sim::camera
