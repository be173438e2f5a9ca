import Foundation

/// The safetensors weight format (Hugging Face): an 8-byte little-endian header length, a JSON
/// header `{name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {…}}`, then
/// the raw little-endian tensor bytes. brainseg writes F32 only; it reads F32, F64, F16 and
/// BF16 (converted to Float32) so that weights exported from PyTorch load unchanged.
public struct SafeTensors: Sendable {
    /// Tensors by name.
    public var tensors: [String: Tensor]
    /// Free-form string metadata (`__metadata__`).
    public var metadata: [String: String]

    public init(tensors: [String: Tensor] = [:], metadata: [String: String] = [:]) {
        self.tensors = tensors
        self.metadata = metadata
    }

    /// A problem with a safetensors file, naming the file.
    public struct FormatError: Error, CustomStringConvertible, Sendable {
        public let path: String
        public let detail: String
        public var description: String { "\(path): \(detail)" }
    }

    /// Reads a safetensors file.
    public static func read(from path: String) throws -> SafeTensors {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path), options: .mappedIfSafe)
        } catch {
            throw FormatError(path: path, detail: "cannot read: \(error.localizedDescription)")
        }
        return try decode(data, path: path)
    }

    /// Decodes safetensors bytes; `path` names the source in errors.
    public static func decode(_ data: Data, path: String = "<memory>") throws -> SafeTensors {
        func fail(_ detail: String) -> FormatError { FormatError(path: path, detail: detail) }
        guard data.count >= 8 else { throw fail("file too short for a safetensors header") }
        // Checked as the unsigned 64-bit value it is: a flipped high bit made Int(_:) trap.
        let declaredLength = data.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) }
        guard declaredLength > 0, declaredLength <= UInt64(data.count - 8), declaredLength < 100_000_000 else {
            throw fail("invalid header length \(declaredLength)")
        }
        let headerLength = Int(declaredLength)
        let headerData = data.subdata(in: 8..<(8 + headerLength))
        guard let header = try? JSONSerialization.jsonObject(with: headerData) as? [String: Any] else {
            throw fail("the header is not a JSON object")
        }
        let payloadStart = 8 + headerLength
        let payloadCount = data.count - payloadStart
        var result = SafeTensors()
        for (name, entry) in header {
            if name == "__metadata__" {
                guard let metadata = entry as? [String: String] else { throw fail("__metadata__ must map strings to strings") }
                result.metadata = metadata
                continue
            }
            guard let description = entry as? [String: Any], let dtype = description["dtype"] as? String,
                  let shape = description["shape"] as? [Int], let offsets = description["data_offsets"] as? [Int],
                  offsets.count == 2 else {
                throw fail("tensor \(name): malformed entry")
            }
            guard shape.allSatisfy({ $0 >= 0 }) else { throw fail("tensor \(name): negative size in shape \(shape)") }
            let (count, overflow) = shape.reduce((1, false)) { partial, size in
                let product = partial.0.multipliedReportingOverflow(by: size)
                return (product.partialValue, partial.1 || product.overflow || product.partialValue > payloadCount)
            }
            guard !overflow else { throw fail("tensor \(name): shape \(shape) holds more values than the file's \(payloadCount) bytes") }
            let width: Int
            switch dtype {
            case "F32": width = 4
            case "F64": width = 8
            case "F16", "BF16": width = 2
            default: throw fail("tensor \(name): unsupported dtype \(dtype) (expected F32, F64, F16 or BF16)")
            }
            guard offsets[0] >= 0, offsets[1] <= payloadCount, offsets[1] - offsets[0] == count * width else {
                throw fail("tensor \(name): data offsets \(offsets) do not hold \(count) × \(dtype) within \(payloadCount) bytes")
            }
            var tensor = Tensor(uninitializedShape: shape)
            data.withUnsafeBytes { raw in
                let base = raw.baseAddress! + payloadStart + offsets[0]
                let source = UnsafeRawBufferPointer(start: base, count: count * width)
                tensor.withUnsafeMutableBufferPointer { target in
                    for index in 0..<count {
                        switch dtype {
                        case "F32":
                            target[index] = Float(bitPattern: UInt32(littleEndian: source.loadUnaligned(fromByteOffset: index * 4, as: UInt32.self)))
                        case "F64":
                            target[index] = Float(Double(bitPattern: UInt64(littleEndian: source.loadUnaligned(fromByteOffset: index * 8, as: UInt64.self))))
                        case "BF16":
                            let bits = UInt16(littleEndian: source.loadUnaligned(fromByteOffset: index * 2, as: UInt16.self))
                            target[index] = Float(bitPattern: UInt32(bits) << 16)
                        default:
                            let bits = UInt16(littleEndian: source.loadUnaligned(fromByteOffset: index * 2, as: UInt16.self))
                            target[index] = Float(Float16(bitPattern: bits))
                        }
                    }
                }
            }
            result.tensors[name] = tensor
        }
        return result
    }

    /// The file's bytes: tensors sorted by name (stable files for identical content), F32.
    public func encoded() throws -> Data {
        var header: [String: Any] = [:]
        var offset = 0
        let names = tensors.keys.sorted()
        for name in names {
            let tensor = tensors[name]!
            header[name] = ["dtype": "F32", "shape": tensor.shape, "data_offsets": [offset, offset + tensor.count * 4]]
            offset += tensor.count * 4
        }
        if !metadata.isEmpty { header["__metadata__"] = metadata }
        var headerData = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        while (8 + headerData.count) % 8 != 0 { headerData.append(0x20) }  // pad with spaces to align
        var output = Data(capacity: 8 + headerData.count + offset)
        withUnsafeBytes(of: UInt64(headerData.count).littleEndian) { output.append(contentsOf: $0) }
        output.append(headerData)
        for name in names {
            tensors[name]!.withUnsafeBufferPointer { values in
                output.append(UnsafeBufferPointer(start: UnsafeRawPointer(values.baseAddress!).assumingMemoryBound(to: UInt8.self),
                                                  count: values.count * 4))
            }
        }
        return output
    }

    /// Writes the file atomically (temporary name, fsync, rename).
    public func write(to path: String) throws {
        try AtomicFile.write([UInt8](try encoded()), to: path)
    }
}
