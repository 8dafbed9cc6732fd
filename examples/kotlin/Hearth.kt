// Hearth for Kotlin/JVM (and Android through JNA's aar): a thin, idiomatic layer over the
// C ABI in ffi/include/hearth.h. Written for Kotlin 1.3 (Debian's kotlinc): no trailing
// commas. Secrets come back in native memory (SecretBuffer) that is wiped on close; they
// are never turned into a String here. HearthStore and SecretBuffer are Closeable (so
// AutoCloseable): use them with `use { }`.
package hearth

import com.sun.jna.IntegerType
import com.sun.jna.Library
import com.sun.jna.Memory
import com.sun.jna.Native
import com.sun.jna.Pointer
import com.sun.jna.ptr.PointerByReference
import java.io.Closeable

/** C `size_t`. */
class SizeT(value: Long = 0) : IntegerType(Native.SIZE_T_SIZE, value, true) {
    constructor() : this(0)

    override fun toByte(): Byte = toInt().toByte()
    override fun toChar(): Char = toInt().toChar()
    override fun toShort(): Short = toInt().toShort()
}

/** The C functions, one to one. */
internal interface HearthNative : Library {
    fun hearth_version(): String
    fun hearth_last_error(buf: ByteArray?, len: SizeT): SizeT
    fun hearth_string_free(s: Pointer?)
    fun hearth_pkce_generate(outVerifier: PointerByReference, outChallenge: PointerByReference): Int
    fun hearth_pkce_challenge(verifier: String, outChallenge: PointerByReference): Int
    fun hearth_vault_open(path: String, passphrase: Pointer, out: PointerByReference): Int
    fun hearth_vault_open_key_file(path: String, keyFile: String, out: PointerByReference): Int
    fun hearth_store_open_default(app: String, out: PointerByReference): Int
    fun hearth_store_set(store: Pointer, key: String, value: Pointer?, len: SizeT): Int
    fun hearth_store_get(store: Pointer, key: String, out: PointerByReference): Int
    fun hearth_secret_data(secret: Pointer, outLen: Pointer): Pointer?
    fun hearth_secret_free(secret: Pointer?)
    fun hearth_store_delete(store: Pointer, key: String): Int
    fun hearth_store_list(store: Pointer, namespace: String, outKeys: PointerByReference, outCount: Pointer): Int
    fun hearth_store_clear(store: Pointer, namespace: String, outCount: Pointer?): Int
    fun hearth_store_free(store: Pointer?)
}

internal object Lib {
    val native: HearthNative = Native.load(
        "hearth",
        HearthNative::class.java,
        mapOf(Library.OPTION_STRING_ENCODING to "UTF-8")
    )

    private fun lastError(): String {
        val buf = ByteArray(512)
        val full = native.hearth_last_error(buf, SizeT(buf.size.toLong())).toLong()
        val n = minOf(full, (buf.size - 1).toLong()).toInt()
        return String(buf, 0, n, Charsets.UTF_8)
    }

    /** Throws the exception for `status` unless it is HEARTH_OK. */
    fun check(status: Int) {
        if (status == Status.OK) return
        val message = lastError()
        throw when (status) {
            Status.INVALID_ARGUMENT -> IllegalArgumentException(message)
            Status.NOT_FOUND -> HearthNotFoundException(message)
            Status.INTEGRITY -> HearthIntegrityException(message)
            Status.POLICY_REFUSED -> HearthRefusedException(message)
            Status.BUSY -> HearthBusyException(message)
            Status.UNAVAILABLE -> HearthUnavailableException(message)
            else -> HearthException(status, message)
        }
    }

    /** Copies and frees a string Hearth returned (only for values that are not secret). */
    fun takeString(p: Pointer): String {
        try {
            return p.getString(0, "UTF-8")
        } finally {
            native.hearth_string_free(p)
        }
    }

    fun readSize(m: Memory): Long = if (Native.SIZE_T_SIZE == 8) m.getLong(0) else m.getInt(0).toLong()
}

/** The status codes of hearth.h. */
object Status {
    const val OK = 0
    const val ERROR = 1
    const val INVALID_ARGUMENT = 2
    const val NOT_FOUND = 3
    const val POLICY_REFUSED = 4
    const val INTEGRITY = 5
    const val BUSY = 6
    const val UNAVAILABLE = 7
    const val PANIC = 8
}

/** A failure reported by Hearth; the message never contains a secret. */
open class HearthException(val status: Int, message: String) : Exception(message)
class HearthNotFoundException(message: String) : HearthException(Status.NOT_FOUND, message)
class HearthIntegrityException(message: String) : HearthException(Status.INTEGRITY, message)
class HearthRefusedException(message: String) : HearthException(Status.POLICY_REFUSED, message)
class HearthBusyException(message: String) : HearthException(Status.BUSY, message)
class HearthUnavailableException(message: String) : HearthException(Status.UNAVAILABLE, message)

/**
 * A secret in native memory. Read it with [copyInto] or [matches]; [close] overwrites it
 * with zeros (as Hearth's own free does) and releases it.
 */
class SecretBuffer internal constructor(private var memory: Memory?, val size: Int) : Closeable {

    /** Copies the secret into `dest` (the caller wipes it: `dest.fill(0)`). */
    fun copyInto(dest: ByteArray) {
        val m = memory ?: throw IllegalStateException("closed")
        require(dest.size >= size) { "destination too small" }
        m.read(0, dest, 0, size)
    }

    /** Whether the secret equals `expected` (not constant time: for tests and UI). */
    fun matches(expected: ByteArray): Boolean {
        val m = memory ?: return false
        if (expected.size != size) return false
        for (i in expected.indices) {
            if (m.getByte(i.toLong()) != expected[i]) return false
        }
        return true
    }

    override fun close() {
        memory?.let {
            it.clear()
            it.close()
        }
        memory = null
    }
}

/** An open Hearth store: the vault, or the fallback chain's choice. */
class HearthStore private constructor(private var handle: Pointer?) : Closeable {
    companion object {
        /** Opens (creating if missing) the vault at `path`; `passphrase` is wiped after use. */
        fun openVault(path: String, passphrase: CharArray): HearthStore {
            val bytes = Charsets.UTF_8.encode(java.nio.CharBuffer.wrap(passphrase))
            val native = Memory((bytes.remaining() + 1).toLong())
            try {
                for (i in 0 until bytes.remaining()) native.setByte(i.toLong(), bytes.get(i))
                native.setByte(bytes.remaining().toLong(), 0)
                val out = PointerByReference()
                Lib.check(Lib.native.hearth_vault_open(path, native, out))
                return HearthStore(out.value)
            } finally {
                native.clear()
                native.close()
                if (bytes.hasArray()) bytes.array().fill(0)
                passphrase.fill('\u0000')
            }
        }

        /** Opens (creating if missing) the vault at `path` unlocked by a 32-byte key file. */
        fun openVaultWithKeyFile(path: String, keyFile: String): HearthStore {
            val out = PointerByReference()
            Lib.check(Lib.native.hearth_vault_open_key_file(path, keyFile, out))
            return HearthStore(out.value)
        }

        /** The best store for `app`: the OS keyring when it answers, else the vault. */
        fun openDefault(app: String): HearthStore {
            val out = PointerByReference()
            Lib.check(Lib.native.hearth_store_open_default(app, out))
            return HearthStore(out.value)
        }
    }

    private fun live(): Pointer = handle ?: throw IllegalStateException("store closed")

    /** Stores `value` under `key` (`app::segment...`). The caller keeps and wipes `value`. */
    fun set(key: String, value: ByteArray) {
        if (value.isEmpty()) {
            Lib.check(Lib.native.hearth_store_set(live(), key, null, SizeT(0)))
            return
        }
        val native = Memory(value.size.toLong())
        try {
            native.write(0, value, 0, value.size)
            Lib.check(Lib.native.hearth_store_set(live(), key, native, SizeT(value.size.toLong())))
        } finally {
            native.clear()
            native.close()
        }
    }

    /** The secret under `key`, or null. Close the buffer to wipe it. */
    fun get(key: String): SecretBuffer? {
        val out = PointerByReference()
        val status = Lib.native.hearth_store_get(live(), key, out)
        if (status == Status.NOT_FOUND) return null
        Lib.check(status)
        val secret = out.value
        val len = Memory(Native.SIZE_T_SIZE.toLong())
        try {
            val data = Lib.native.hearth_secret_data(secret, len)
            val size = Lib.readSize(len)
            // Native to native, byte by byte: no Java array holds the secret on the way.
            val copy = Memory(maxOf(size, 1L))
            copy.clear()
            for (i in 0 until size) copy.setByte(i, data!!.getByte(i))
            return SecretBuffer(copy, size.toInt())
        } finally {
            len.close()
            Lib.native.hearth_secret_free(secret)
        }
    }

    /** Deletes `key`; false when there was nothing to delete. */
    fun delete(key: String): Boolean {
        val status = Lib.native.hearth_store_delete(live(), key)
        if (status == Status.NOT_FOUND) return false
        Lib.check(status)
        return true
    }

    /** The keys under `namespace`, sorted. */
    fun list(namespace: String): List<String> {
        val out = PointerByReference()
        val count = Memory(Native.SIZE_T_SIZE.toLong())
        try {
            Lib.check(Lib.native.hearth_store_list(live(), namespace, out, count))
            val keys = Lib.takeString(out.value).split('\n').filter { it.isNotEmpty() }
            check(keys.size.toLong() == Lib.readSize(count)) { "key count mismatch" }
            return keys
        } finally {
            count.close()
        }
    }

    /** Deletes every secret under `namespace`; returns how many. */
    fun clear(namespace: String): Long {
        val count = Memory(Native.SIZE_T_SIZE.toLong())
        try {
            Lib.check(Lib.native.hearth_store_clear(live(), namespace, count))
            return Lib.readSize(count)
        } finally {
            count.close()
        }
    }

    override fun close() {
        handle?.let { Lib.native.hearth_store_free(it) }
        handle = null
    }
}

/** PKCE (RFC 7636, S256). */
object Pkce {
    /** The S256 challenge of `verifier`. */
    fun challenge(verifier: String): String {
        val out = PointerByReference()
        Lib.check(Lib.native.hearth_pkce_challenge(verifier, out))
        return Lib.takeString(out.value)
    }

    /** The library version, "hearth-ffi/X.Y.Z". */
    fun version(): String = Lib.native.hearth_version()
}
