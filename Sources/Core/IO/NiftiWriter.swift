import CNifti
import Glibc

/// Writes 3D images and label maps as NIfTI-1 (`.nii.gz` or `.nii`) with the geometry of a
/// source volume: dims, voxel size, qform and sform (codes, quaternion, offsets, qfac, matrix
/// rows) and units are copied field by field, so the output overlays the input in any viewer.
/// NIfTI-1 stores these as Float32, so a NIfTI-1 source round-trips exactly and a NIfTI-2
/// source to Float32 precision.
///
/// libnifti converts the geometry into a header (`nifti_convert_nim2n1hdr`); the bytes are
/// written here through zlib because libnifti's own writer returns nothing and prints its
/// errors. Every file is written under a temporary name, fsynced, read back and compared voxel
/// for voxel and field for field with what was meant, and only then renamed into place
/// (`AtomicFile`). NIfTI-2 is never written: libnifti 3.0.1 produces a file without a header
/// when asked to (PLATFORM-NOTES §1a).
public enum NiftiWriter {
    /// Storage type of a label map.
    public enum LabelDatatype: Sendable {
        case uint8, int16
    }

    /// Writes a Float32 image. Throws `.writeFailed` for non-finite voxels, a wrong voxel count,
    /// an unsupported file name or an I/O failure; `.verificationFailed` if the read-back differs.
    public static func write(_ volume: Volume, to path: String, description: String = "brainseg") throws {
        guard volume.voxels.allSatisfy(\.isFinite) else {
            throw NiftiError(.writeFailed, path: path, "refusing to write NaN or infinite voxels")
        }
        try volume.voxels.withUnsafeBytes {
            try write(bytes: $0, datatype: .float32, geometry: volume.geometry, to: path,
                      description: description, displayRange: nil, expected: volume.voxels)
        }
    }

    /// Writes a label map (values must fit the chosen type; BraTS labels are 0, 1, 2, 3, 4).
    public static func writeLabels(
        _ labels: [UInt8], geometry: VolumeGeometry, to path: String, as datatype: LabelDatatype = .uint8,
        description: String = "brainseg segmentation"
    ) throws {
        guard labels.count == geometry.voxelCount else {
            throw NiftiError(.writeFailed, path: path, "label map has \(labels.count) voxels, the geometry \(geometry.voxelCount)")
        }
        let maximum = Double(labels.max() ?? 0)
        let expected = labels.map { Float($0) }
        switch datatype {
        case .uint8:
            try labels.withUnsafeBytes {
                try write(bytes: $0, datatype: .uint8, geometry: geometry, to: path,
                          description: description, displayRange: (0, maximum), expected: expected)
            }
        case .int16:
            let wide = labels.map { Int16($0) }
            try wide.withUnsafeBytes {
                try write(bytes: $0, datatype: .int16, geometry: geometry, to: path,
                          description: description, displayRange: (0, maximum), expected: expected)
            }
        }
    }

    /// Writes raw voxel bytes to a temporary file, checks it, and publishes it at `path`.
    private static func write(
        bytes: UnsafeRawBufferPointer, datatype: NiftiDatatype, geometry: VolumeGeometry, to path: String,
        description: String, displayRange: (Double, Double)?, expected: [Float]
    ) throws {
        guard path.hasSuffix(".nii.gz") || path.hasSuffix(".nii") else {
            throw NiftiError(.writeFailed, path: path, "the file name must end in .nii.gz or .nii")
        }
        guard geometry.dims.count == 3, geometry.dims.allSatisfy({ $0 >= 1 }),
              bytes.count == geometry.voxelCount * datatype.byteCount else {
            throw NiftiError(.writeFailed, path: path, "data size does not match the geometry \(geometry.dims)")
        }
        let temporary = AtomicFile.temporaryPath(for: path)
        do {
            let header = try makeHeader(datatype: datatype, geometry: geometry, description: description,
                                        displayRange: displayRange, path: path)
            try writeFile(header: header, voxels: bytes, to: temporary, compressed: path.hasSuffix(".gz"), reportAs: path)
            try verify(temporary, reportAs: path, expected: expected, geometry: geometry)
            try AtomicFile.publish(temporary, as: path)
        } catch {
            unlink(temporary)
            throw error
        }
    }

    /// Reads the temporary file back and compares it with what was meant to be written.
    private static func verify(_ temporary: String, reportAs path: String, expected: [Float], geometry: VolumeGeometry) throws {
        let readBack: NiftiImage
        do {
            readBack = try NiftiReader.read(from: temporary)
        } catch let error as NiftiError {
            throw NiftiError(.writeFailed, path: path, "the written file cannot be read back (disk full?): \(error.detail)")
        }
        guard readBack.geometry == geometry || sameGeometryAsStored(readBack.geometry, geometry) else {
            throw NiftiError(.verificationFailed, path: path, "the written geometry differs from the source's")
        }
        guard readBack.voxels == expected else {
            throw NiftiError(.verificationFailed, path: path, "the written voxels differ from the data")
        }
    }

    /// NIfTI-1 stores geometry as Float32; a geometry built in Double (not read from a file)
    /// comes back rounded. Equal after rounding to Float32 counts as identical.
    private static func sameGeometryAsStored(_ stored: VolumeGeometry, _ intended: VolumeGeometry) -> Bool {
        func f(_ values: [Double]) -> [Float] { values.map { Float($0) } }
        return stored.dims == intended.dims && f(stored.spacing) == f(intended.spacing)
            && stored.qformCode == intended.qformCode && stored.sformCode == intended.sformCode
            && f(stored.quaternion) == f(intended.quaternion) && f(stored.qoffset) == f(intended.qoffset)
            && f(Array(stored.sformMatrix.prefix(12))) == f(Array(intended.sformMatrix.prefix(12)))
            && stored.spatialUnits == intended.spatialUnits
    }

    /// A NIfTI-1 header for the voxels, built by libnifti from the geometry's fields.
    private static func makeHeader(
        datatype: NiftiDatatype, geometry: VolumeGeometry, description: String,
        displayRange: (Double, Double)?, path: String
    ) throws -> nifti_1_header {
        NiftiReader.silenceLibnifti()
        var dims: [Int64] = [3, Int64(geometry.dims[0]), Int64(geometry.dims[1]), Int64(geometry.dims[2]), 1, 1, 1, 1]
        guard let image = nifti_make_new_nim(&dims, datatype.rawValue, 0) else {
            throw NiftiError(.writeFailed, path: path, "libnifti could not build a header for \(geometry.dims)")
        }
        defer { nifti_image_free(image) }
        image.pointee.dx = geometry.spacing[0]
        image.pointee.dy = geometry.spacing[1]
        image.pointee.dz = geometry.spacing[2]
        withUnsafeMutableBytes(of: &image.pointee.pixdim) { raw in
            let pixdim = raw.bindMemory(to: Double.self)
            pixdim[0] = geometry.qfac
            pixdim[1] = geometry.spacing[0]
            pixdim[2] = geometry.spacing[1]
            pixdim[3] = geometry.spacing[2]
        }
        image.pointee.qform_code = geometry.qformCode
        image.pointee.sform_code = geometry.sformCode
        image.pointee.quatern_b = geometry.quaternion[0]
        image.pointee.quatern_c = geometry.quaternion[1]
        image.pointee.quatern_d = geometry.quaternion[2]
        image.pointee.qoffset_x = geometry.qoffset[0]
        image.pointee.qoffset_y = geometry.qoffset[1]
        image.pointee.qoffset_z = geometry.qoffset[2]
        image.pointee.qfac = geometry.qfac
        cnifti_update_qto_xyz(image)
        cnifti_set_sto_xyz(image, geometry.sformMatrix)
        image.pointee.xyz_units = geometry.spatialUnits
        image.pointee.time_units = geometry.temporalUnits
        image.pointee.scl_slope = 1
        image.pointee.scl_inter = 0
        if let (low, high) = displayRange {
            image.pointee.cal_min = low
            image.pointee.cal_max = high
        }
        withUnsafeMutableBytes(of: &image.pointee.descrip) { raw in
            raw.initializeMemory(as: UInt8.self, repeating: 0)
            raw.copyBytes(from: Array(description.utf8.prefix(79)))
        }
        image.pointee.nifti_type = NIFTI_FTYPE_NIFTI1_1
        var header = nifti_1_header()
        guard nifti_convert_nim2n1hdr(image, &header) == 0 else {
            throw NiftiError(.writeFailed, path: path, "libnifti could not convert the geometry into a NIfTI-1 header")
        }
        header.vox_offset = 352
        withUnsafeMutableBytes(of: &header.magic) { raw in raw.copyBytes(from: [UInt8(ascii: "n"), UInt8(ascii: "+"), UInt8(ascii: "1"), 0]) }
        return header
    }

    /// Writes header, a zero extender (no extensions) and the voxels to a new file, gzip
    /// compressed when asked, and fsyncs it. Every zlib and POSIX failure is an error.
    private static func writeFile(
        header: nifti_1_header, voxels: UnsafeRawBufferPointer, to temporary: String, compressed: Bool, reportAs path: String
    ) throws {
        func failure(_ what: String, _ code: Int32 = errno) -> NiftiError {
            NiftiError(.writeFailed, path: path, "\(what): \(String(cString: strerror(code)))", errorNumber: code)
        }
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw failure("cannot create \(temporary)") }
        defer { close(descriptor) }
        var prefix = [UInt8](repeating: 0, count: 352)
        withUnsafeBytes(of: header) { prefix.replaceSubrange(0..<348, with: $0) }
        if compressed {
            let copy = dup(descriptor)
            guard copy >= 0, let stream = gzdopen(copy, "wb4") else {
                throw failure("cannot open a gzip stream")
            }
            gzbuffer(stream, 256 * 1024)
            var ok = prefix.withUnsafeBytes { gzwrite(stream, $0.baseAddress, UInt32($0.count)) } == 352
            var offset = 0
            while ok && offset < voxels.count {
                let chunk = min(voxels.count - offset, 1 << 30)
                ok = gzwrite(stream, voxels.baseAddress! + offset, UInt32(chunk)) == Int32(chunk)
                offset += chunk
            }
            let closed = gzclose(stream)
            guard ok, closed == Z_OK else { throw failure("writing compressed data failed (disk full?)", closed == Z_ERRNO ? errno : EIO) }
        } else {
            func writeAll(_ source: UnsafeRawBufferPointer) throws {
                var offset = 0
                while offset < source.count {
                    let written = Glibc.write(descriptor, source.baseAddress! + offset, source.count - offset)
                    if written < 0 {
                        if errno == EINTR { continue }
                        throw failure("write failed (disk full?)")
                    }
                    offset += written
                }
            }
            try prefix.withUnsafeBytes { try writeAll($0) }
            try writeAll(voxels)
        }
        guard fsync(descriptor) == 0 else { throw failure("fsync failed") }
    }
}
