import CNifti

/// The NIfTI voxel datatypes brainseg reads (all real scalars) and the subset it writes.
///
/// Every readable type converts to Float32. Integers wider than 24 bits lose precision in that
/// conversion, which is harmless for MRI intensities and label maps.
public enum NiftiDatatype: Int32, Sendable, CaseIterable, Codable {
    case uint8 = 2          // DT_UINT8
    case int16 = 4          // DT_INT16
    case int32 = 8          // DT_INT32
    case float32 = 16       // DT_FLOAT32
    case float64 = 64       // DT_FLOAT64
    case int8 = 256         // DT_INT8
    case uint16 = 512       // DT_UINT16
    case uint32 = 768       // DT_UINT32
    case int64 = 1024       // DT_INT64
    case uint64 = 1280      // DT_UINT64

    /// Bytes per voxel.
    public var byteCount: Int {
        switch self {
        case .uint8, .int8: return 1
        case .int16, .uint16: return 2
        case .int32, .uint32, .float32: return 4
        case .float64, .int64, .uint64: return 8
        }
    }

    /// The name libnifti and nibabel use (`int16`, `float32`, …).
    public var name: String { String(describing: self) }

    /// The libnifti name of any datatype code, including ones brainseg does not read.
    public static func describe(code: Int32) -> String {
        if let known = NiftiDatatype(rawValue: code) { return known.name }
        guard let cName = nifti_datatype_to_string(code) else { return "code \(code)" }
        return "\(String(cString: cName)) (code \(code))"
    }
}

extension NiftiDatatype {
    /// Converts `count` voxels of this type from `raw` (file byte order) into `output`,
    /// byte-swapping when `swapped` and applying `value × slope + intercept` when `scaling`
    /// is given. `raw` must hold `count × byteCount` bytes; `output` `count` floats.
    func convert(
        _ raw: UnsafeRawBufferPointer, count: Int, swapped: Bool,
        scaling: (slope: Double, intercept: Double)?, into output: UnsafeMutableBufferPointer<Float>
    ) {
        precondition(raw.count >= count * byteCount && output.count >= count)
        switch self {
        case .uint8: Self.convertInteger(raw, count, swapped, scaling, output, UInt8.self)
        case .int8: Self.convertInteger(raw, count, swapped, scaling, output, Int8.self)
        case .int16: Self.convertInteger(raw, count, swapped, scaling, output, Int16.self)
        case .uint16: Self.convertInteger(raw, count, swapped, scaling, output, UInt16.self)
        case .int32: Self.convertInteger(raw, count, swapped, scaling, output, Int32.self)
        case .uint32: Self.convertInteger(raw, count, swapped, scaling, output, UInt32.self)
        case .int64: Self.convertInteger(raw, count, swapped, scaling, output, Int64.self)
        case .uint64: Self.convertInteger(raw, count, swapped, scaling, output, UInt64.self)
        case .float32:
            for index in 0..<count {
                var bits = raw.loadUnaligned(fromByteOffset: index * 4, as: UInt32.self)
                if swapped { bits = bits.byteSwapped }
                output[index] = Self.scaled(Double(Float(bitPattern: bits)), scaling)
            }
        case .float64:
            for index in 0..<count {
                var bits = raw.loadUnaligned(fromByteOffset: index * 8, as: UInt64.self)
                if swapped { bits = bits.byteSwapped }
                output[index] = Self.scaled(Double(bitPattern: bits), scaling)
            }
        }
    }

    @inline(__always)
    private static func scaled(_ value: Double, _ scaling: (slope: Double, intercept: Double)?) -> Float {
        guard let scaling else { return Float(value) }
        return Float(value * scaling.slope + scaling.intercept)
    }

    private static func convertInteger<T: FixedWidthInteger>(
        _ raw: UnsafeRawBufferPointer, _ count: Int, _ swapped: Bool,
        _ scaling: (slope: Double, intercept: Double)?, _ output: UnsafeMutableBufferPointer<Float>,
        _ type: T.Type
    ) {
        let stride = MemoryLayout<T>.size
        if let scaling {
            for index in 0..<count {
                var value = raw.loadUnaligned(fromByteOffset: index * stride, as: T.self)
                if swapped { value = value.byteSwapped }
                output[index] = Float(Double(value) * scaling.slope + scaling.intercept)
            }
        } else {
            for index in 0..<count {
                var value = raw.loadUnaligned(fromByteOffset: index * stride, as: T.self)
                if swapped { value = value.byteSwapped }
                output[index] = Float(value)
            }
        }
    }
}
