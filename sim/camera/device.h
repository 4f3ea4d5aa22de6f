// The PTP device behind one virtual camera: DeviceInfo, the storage and its object tree, device
// properties, and the answer to every operation. No networking here; the farm feeds it parsed
// OperationRequests and sends what it returns. Thread-safe (one mutex): the network threads and the
// image workers both touch it.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "sim/camera/camera_config.h"
#include "sim/camera/ptpip.h"

namespace twinrig::sim::camera {

inline constexpr std::uint32_t kStorageId = 0x00010001;
inline constexpr std::uint32_t kDcimHandle = 1;
inline constexpr std::uint32_t kFolderHandle = 2;
inline constexpr const char* kFolderName = "100TWRIG";

// What one command connection knows about its PTP session.
struct SessionState {
  bool open = false;
  std::uint32_t session_id = 0;
};

struct OperationResult {
  std::uint16_t code = rc::kOk;
  std::vector<std::uint32_t> params;
  // Data-in phase: `data_length` bytes of `data` from `data_offset` (no copy for GetObject).
  bool has_data = false;
  std::shared_ptr<const std::vector<std::uint8_t>> data;
  std::size_t data_offset = 0;
  std::size_t data_length = 0;
  bool object_transfer = false;    // GetObject / GetPartialObject: slow and corrupt faults apply
  bool capture_requested = false;  // InitiateCapture accepted: the farm takes the picture
};

class Device {
 public:
  explicit Device(CameraConfig config);

  // Answers one operation. `data_out` is the host's data phase (SetDevicePropValue).
  OperationResult Handle(const OperationRequest& request, std::span<const std::uint8_t> data_out,
                         SessionState& session);

  [[nodiscard]] ExposureSettings Settings() const;

  // Keeps an exposure's image in DCIM/100TWRIG/. StoreFull (card full or not enough room) is an
  // Error and leaves the card as it was.
  struct Stored {
    std::uint32_t handle = 0;
    std::string filename;
  };
  Result<Stored> StoreImage(std::shared_ptr<const std::vector<std::uint8_t>> bytes,
                            const ExposureSettings& settings);

  void SetFault(const Fault& fault);
  [[nodiscard]] std::uint64_t FreeBytes() const;
  [[nodiscard]] std::size_t ImageCount() const;
  [[nodiscard]] const CameraConfig& config() const { return config_; }

 private:
  struct Object {
    std::uint32_t parent = 0;
    std::uint16_t format = fmt_code::kAssociation;
    std::string name;
    std::shared_ptr<const std::vector<std::uint8_t>> data;
    int width = 0;
    int height = 0;
    std::string date;  // YYYYMMDDThhmmss
    bool on_card = true;
  };
  struct Property {
    std::uint16_t code = 0;
    std::uint16_t type = datatype::kUint16;
    bool settable = true;
    std::uint32_t number = 0;  // current value for integer types
    std::uint32_t default_number = 0;
    std::string text;  // current value for strings
    std::string default_text;
    bool range = false;  // range form (min, max, step) instead of enumeration
    std::uint32_t min = 0, max = 0, step = 1;
    std::vector<std::uint32_t> numbers;  // enumeration
    std::vector<std::string> texts;
  };

  OperationResult DeviceInfo() const;
  OperationResult StorageInfo(const OperationRequest& request) const;
  OperationResult ObjectHandles(const OperationRequest& request) const;
  OperationResult ObjectInfo(const OperationRequest& request) const;
  OperationResult GetObject(const OperationRequest& request) const;
  OperationResult DeleteObject(const OperationRequest& request);
  OperationResult InitiateCapture() const;
  OperationResult PropDesc(const OperationRequest& request) const;
  OperationResult PropValue(const OperationRequest& request) const;
  OperationResult SetPropValue(const OperationRequest& request, std::span<const std::uint8_t> data);
  void WriteValue(DataWriter& w, const Property& p, bool current) const;
  std::uint64_t FreeBytesLocked() const;
  std::uint32_t BatteryLocked() const;
  ExposureSettings SettingsLocked() const;

  const CameraConfig config_;
  mutable std::mutex mutex_;
  std::map<std::uint32_t, Object> objects_;
  std::map<std::uint16_t, Property> properties_;
  std::uint32_t next_handle_ = kFolderHandle + 1;
  std::uint32_t next_file_number_ = 1;
  std::uint64_t used_bytes_ = 0;
  Fault fault_;
};

}  // namespace twinrig::sim::camera
