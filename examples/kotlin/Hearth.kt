// Hearth for Kotlin/JVM (and Android through JNA's aar): a thin, idiomatic layer over the
// C ABI in ffi/include/hearth.h. Written for Kotlin 1.3 (Debian's kotlinc): no trailing
// commas. Secrets come back in native memory (SecretBuffer) that is wiped on close; they
// are never turned into a String here. HearthStore and SecretBuffer are Closeable (so
// AutoCloseable): use them with `use { }`.
package hearth

import com.sun.jna.Callback
import com.sun.jna.IntegerType
import com.sun.jna.Library
import com.sun.jna.Memory
import com.sun.jna.Native
import com.sun.jna.Pointer
import com.sun.jna.Structure
import com.sun.jna.ptr.PointerByReference
import java.io.Closeable
import java.lang.ref.PhantomReference
import java.lang.ref.ReferenceQueue
import java.nio.ByteBuffer
import java.nio.CharBuffer
import java.util.concurrent.locks.ReentrantReadWriteLock

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
    fun hearth_store_open_wrapped(dir: String, app: String, provider: NativeKeyProvider, out: PointerByReference): Int
    fun hearth_store_set(store: Pointer, key: String, value: Pointer?, len: SizeT): Int
    fun hearth_store_get(store: Pointer, key: String, out: PointerByReference): Int
    fun hearth_secret_data(secret: Pointer, outLen: Pointer): Pointer?
    fun hearth_secret_free(secret: Pointer?)
    fun hearth_store_delete(store: Pointer, key: String): Int
    fun hearth_store_list_keys(store: Pointer, namespace: String, out: PointerByReference): Int
    fun hearth_key_list_len(list: Pointer?): SizeT
    fun hearth_key_list_get(list: Pointer?, i: SizeT): Pointer?
    fun hearth_key_list_free(list: Pointer?)
    fun hearth_store_clear(store: Pointer, namespace: String, outCount: Pointer?): Int
    fun hearth_store_free(store: Pointer?)
}

/**
 * Runs a cleanup action once its owner is unreachable, or at once on [Cleanable.clean]:
 * `java.lang.ref.Cleaner` rebuilt on phantom references, because Cleaner needs Android 13
 * (API 33) and this binding supports API 24. The action must not refer to its owner.
 */
internal class NativeCleaner {
    inner class Cleanable(owner: Any, private var action: Runnable?) :
        PhantomReference<Any>(owner, queue) {
        /** Runs the action now, once; later calls and the collector do nothing. */
        fun clean() {
            val a = synchronized(this) { action.also { action = null } } ?: return
            live.remove(this)
            a.run()
            ran.incrementAndGet()
        }
    }

    /** How many actions have run to completion (by [Cleanable.clean] or the collector): for tests. */
    val ran = java.util.concurrent.atomic.AtomicLong()

    private val queue = ReferenceQueue<Any>()
    /** Keeps the phantom references themselves reachable until they have run. */
    private val live = java.util.Collections.newSetFromMap(java.util.concurrent.ConcurrentHashMap<Cleanable, Boolean>())

    fun register(owner: Any, action: Runnable): Cleanable = Cleanable(owner, action).also { live.add(it) }

    init {
        val t = Thread({
            while (true) {
                try {
                    (queue.remove() as Cleanable).clean()
                } catch (e: InterruptedException) {
                    // keep running: the cleaner lives as long as the process
                } catch (e: Throwable) {
                    // an action's failure must not stop the others
                }
            }
        }, "hearth-cleaner")
        t.isDaemon = true
        t.start()
    }
}

internal object Lib {
    /** Frees what callers forgot to close (wiping secrets first). */
    val cleaner = NativeCleaner()

    /**
     * Keeps `o` reachable up to this point (Reference.reachabilityFence needs API 28): a
     * volatile write the compiler cannot drop or move above the calls before it.
     */
    @Volatile private var sink: Any? = null
    fun keepAlive(o: Any) {
        sink = o
        sink = null
    }

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

/** `hearth_key_provider`'s wrap and unwrap callbacks. */
internal interface WrapCallback : Callback {
    fun invoke(ctx: Pointer?, input: Pointer?, inputLen: SizeT, out: Pointer, outLen: Pointer): Int
}

/** `hearth_key_provider` (drop is NULL: the Kotlin side owns its provider). */
@Structure.FieldOrder("ctx", "wrap", "unwrap", "drop")
internal class NativeKeyProvider : Structure() {
    @JvmField var ctx: Pointer? = null
    @JvmField var wrap: WrapCallback? = null
    @JvmField var unwrap: WrapCallback? = null
    @JvmField var drop: Pointer? = null
}

/**
 * Wraps and unwraps Hearth's vault key with a key the host keeps (the Android Keystore, a
 * PKCS12 KeyStore): see [HearthStore.openWrapped]. `unwrap` throws when it cannot, and
 * what it throws decides what the open reports:
 * - [KeyProviderLockedException]: [HearthBusyException] (authenticate, open again);
 * - `javax.crypto.AEADBadTagException` (the wrapped key does not decrypt),
 *   [KeyProviderInvalidatedException] or an `IllegalArgumentException` (a malformed
 *   wrapped key): [HearthIntegrityException], the vault cannot be read again;
 * - anything else (the keystore did not answer): [HearthException] with status ERROR,
 *   to retry; nothing is known to be wrong with the vault.
 */
interface KeyProvider {
    fun wrap(key: ByteArray): ByteArray
    fun unwrap(wrapped: ByteArray): ByteArray
}

/**
 * Thrown by a [KeyProvider] whose key cannot be used until the user authenticates (an
 * Android Keystore key bound to user authentication): the open fails with
 * [HearthBusyException], and the app authenticates the user and opens again.
 */
class KeyProviderLockedException(message: String, cause: Throwable? = null) : Exception(message, cause)

/**
 * Thrown by a [KeyProvider] whose key can never unwrap again (an Android Keystore key
 * invalidated when the screen lock was removed or biometrics re-enrolled, or deleted): an
 * open fails with [HearthIntegrityException]. What every exception of a provider means is
 * listed at [KeyProvider].
 */
class KeyProviderInvalidatedException(message: String, cause: Throwable? = null) : Exception(message, cause)

/**
 * A [KeyProvider] over a JCA KeyStore (PKCS12 file): AES-256-GCM under a key kept in the
 * KeyStore under `alias`, created on first use. `password` is wiped once the key is
 * loaded; it must come from somewhere other than the vault's directory (a usable key
 * beside the vault protects nothing). The file is created 0600 and written whole (a
 * temporary file, fsync, rename); creation is serialised across threads and processes
 * by a lock file, so two first opens cannot make two keys. On Android use
 * `AndroidKeystoreProvider` instead (the key never leaves the hardware); this one is for
 * JVMs.
 */
class JcaKeyProvider(private val path: String, password: CharArray, private val alias: String = "hearth") : KeyProvider {
    private val key: javax.crypto.SecretKey = try {
        load(password)
    } finally {
        password.fill('\u0000')
    }

    private companion object {
        /** Threads of this process take turns (a FileLock is held per process, not per thread). */
        val creating = Any()
    }

    private fun load(password: CharArray): javax.crypto.SecretKey {
        return synchronized(creating) { loadLocked(password) }
    }

    private fun loadLocked(password: CharArray): javax.crypto.SecretKey {
        val file = java.io.File(path).absoluteFile
        val dir = file.parentFile
        dir.mkdirs()
        val protection = java.security.KeyStore.PasswordProtection(password)
        try {
            java.io.RandomAccessFile(java.io.File(dir, file.name + ".lock"), "rw").use { lockFile ->
                val held = lockFile.channel.lock()
                try {
                    val ks = java.security.KeyStore.getInstance("PKCS12")
                    if (file.exists()) {
                        file.inputStream().use { ks.load(it, password) }
                        val entry = ks.getEntry(alias, protection) as? java.security.KeyStore.SecretKeyEntry
                            ?: throw KeyProviderInvalidatedException("the KeyStore holds no key under the alias")
                        return entry.secretKey
                    }
                    ks.load(null, password)
                    val gen = javax.crypto.KeyGenerator.getInstance("AES")
                    gen.init(256)
                    val key = gen.generateKey()
                    ks.setEntry(alias, java.security.KeyStore.SecretKeyEntry(key), protection)
                    store(ks, password, file)
                    return key
                } finally {
                    held.release()
                }
            }
        } finally {
            protection.destroy()
        }
    }

    /** Writes `ks` to `file`: a 0600 temporary file beside it, fsync, rename, fsync the directory. */
    private fun store(ks: java.security.KeyStore, password: CharArray, file: java.io.File) {
        val dir = file.parentFile.toPath()
        val owner = java.nio.file.attribute.PosixFilePermissions.fromString("rw-------")
        val tmp = java.nio.file.Files.createTempFile(
            dir,
            file.name,
            ".tmp",
            java.nio.file.attribute.PosixFilePermissions.asFileAttribute(owner)
        )
        try {
            java.nio.channels.FileChannel.open(tmp, java.nio.file.StandardOpenOption.WRITE).use { ch ->
                ks.store(java.nio.channels.Channels.newOutputStream(ch), password)
                ch.force(true)
            }
            java.nio.file.Files.move(tmp, file.toPath(), java.nio.file.StandardCopyOption.ATOMIC_MOVE)
            java.nio.channels.FileChannel.open(dir, java.nio.file.StandardOpenOption.READ).use { it.force(true) }
        } finally {
            java.nio.file.Files.deleteIfExists(tmp)
        }
    }

    override fun wrap(key: ByteArray): ByteArray {
        val iv = ByteArray(12)
        java.security.SecureRandom().nextBytes(iv)
        val cipher = javax.crypto.Cipher.getInstance("AES/GCM/NoPadding")
        cipher.init(javax.crypto.Cipher.ENCRYPT_MODE, this.key, javax.crypto.spec.GCMParameterSpec(128, iv))
        return iv + cipher.doFinal(key)
    }

    override fun unwrap(wrapped: ByteArray): ByteArray {
        require(wrapped.size > 12) { "not a wrapped key" }
        val cipher = javax.crypto.Cipher.getInstance("AES/GCM/NoPadding")
        cipher.init(
            javax.crypto.Cipher.DECRYPT_MODE,
            this.key,
            javax.crypto.spec.GCMParameterSpec(128, wrapped, 0, 12)
        )
        return cipher.doFinal(wrapped, 12, wrapped.size - 12)
    }
}

/**
 * Adapts a [KeyProvider] to `hearth_key_provider`'s callbacks, mapping its exceptions as
 * [KeyProvider] lists (`IllegalBlockSizeException` is not an integrity failure: Android's
 * keystore raises it for system errors too).
 */
private class ProviderCallback(private val provider: KeyProvider, private val wrapping: Boolean) : WrapCallback {
    override fun invoke(ctx: Pointer?, input: Pointer?, inputLen: SizeT, out: Pointer, outLen: Pointer): Int {
        var bytes: ByteArray? = null
        var result: ByteArray? = null
        try {
            val n = inputLen.toInt()
            val input = if (n == 0 || input == null) ByteArray(0) else input.getByteArray(0, n)
            bytes = input
            result = if (wrapping) provider.wrap(input) else provider.unwrap(input)
            val cap = if (Native.SIZE_T_SIZE == 8) outLen.getLong(0) else outLen.getInt(0).toLong()
            if (result.size > cap) return Status.ERROR
            out.write(0, result, 0, result.size)
            if (Native.SIZE_T_SIZE == 8) outLen.setLong(0, result.size.toLong()) else outLen.setInt(0, result.size)
            return Status.OK
        } catch (e: Throwable) { // an Error too: JNA would turn it into 0 (HEARTH_OK)
            return when (e) {
                is KeyProviderLockedException -> Status.BUSY
                is KeyProviderInvalidatedException,
                is javax.crypto.AEADBadTagException,
                is IllegalArgumentException -> if (wrapping) Status.ERROR else Status.INTEGRITY
                else -> Status.ERROR
            }
        } finally {
            bytes?.fill(0)
            result?.fill(0)
        }
    }
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
 * Wipes and frees native memory: a cleaner action that holds no reference to its owner,
 * only its lock, which every reader holds: memory is never freed under a read.
 */
private class Wipe(private val memory: Memory, private val lock: Any) : Runnable {
    override fun run() = synchronized(lock) {
        memory.clear()
        memory.close()
    }
}

/**
 * A secret in native memory. Read it with [copyInto] or [matches]; [close] overwrites it
 * with zeros (as Hearth's own free does) and releases it. One left unclosed is wiped and
 * freed when it is garbage collected.
 */
class SecretBuffer internal constructor(memory: Memory, val size: Int) : Closeable {
    private val lock = Any()
    private var memory: Memory? = memory
    private val cleanup = Lib.cleaner.register(this, Wipe(memory, lock))

    /** Copies the secret into `dest` (the caller wipes it: `dest.fill(0)`); throws after [close]. */
    fun copyInto(dest: ByteArray) = synchronized(lock) {
        val m = memory ?: throw IllegalStateException("closed")
        require(dest.size >= size) { "destination too small" }
        m.read(0, dest, 0, size)
    }

    /** Whether the secret equals `expected`, compared in constant time (one bulk copy); throws after [close]. */
    fun matches(expected: ByteArray): Boolean = synchronized(lock) {
        val m = memory ?: throw IllegalStateException("closed")
        if (expected.size != size) {
            false
        } else {
            val copy = m.getByteArray(0, size)
            try {
                java.security.MessageDigest.isEqual(copy, expected)
            } finally {
                copy.fill(0)
            }
        }
    }

    override fun close() = synchronized(lock) {
        if (memory != null) cleanup.clean()
        memory = null
    }
}

/**
 * Frees a store handle, once: on [HearthStore.close] or when the store was never closed.
 * It takes the store's write lock, so it waits for every call in flight whatever the
 * collector concluded about reachability.
 */
private class FreeStore(private val handle: Pointer, private val lock: ReentrantReadWriteLock) : Runnable {
    override fun run() {
        lock.writeLock().lock()
        try {
            Lib.native.hearth_store_free(handle)
        } finally {
            lock.writeLock().unlock()
        }
    }
}

/** An open Hearth store: the vault, or the fallback chain's choice. */
class HearthStore private constructor(handle: Pointer) : Closeable {
    /** Calls hold the read lock, [close] the write lock: no call runs on a freed handle. */
    private val lock = ReentrantReadWriteLock()
    private var handle: Pointer? = handle
    private val cleanup = Lib.cleaner.register(this, FreeStore(handle, lock))

    companion object {
        /**
         * Opens (creating if missing) the vault at `path`; `passphrase` is wiped after use.
         * A passphrase holding U+0000 is refused (C would cut it there, silently).
         */
        fun openVault(path: String, passphrase: CharArray): HearthStore {
            if (passphrase.any { it == '\u0000' }) {
                passphrase.fill('\u0000')
                throw IllegalArgumentException("the passphrase must not contain U+0000")
            }
            // Encoded into one buffer sized for the worst case, so the encoder never grows
            // it (a grown buffer would leave an unwiped copy behind).
            val encoder = Charsets.UTF_8.newEncoder()
            val bytes = ByteBuffer.allocate(maxOf(1, passphrase.size * encoder.maxBytesPerChar().toInt() + 1))
            val native = Memory(bytes.capacity().toLong() + 1)
            try {
                val result = encoder.encode(CharBuffer.wrap(passphrase), bytes, true)
                if (result.isError) throw IllegalArgumentException("the passphrase is not valid text")
                encoder.flush(bytes)
                val n = bytes.position()
                for (i in 0 until n) native.setByte(i.toLong(), bytes.get(i))
                native.setByte(n.toLong(), 0)
                val out = PointerByReference()
                Lib.check(Lib.native.hearth_vault_open(path, native, out))
                return HearthStore(out.value)
            } finally {
                native.clear()
                native.close()
                bytes.array().fill(0)
                passphrase.fill('\u0000')
            }
        }

        /** Opens (creating if missing) the vault at `path` unlocked by a 32-byte key file. */
        fun openVaultWithKeyFile(path: String, keyFile: String): HearthStore {
            val out = PointerByReference()
            Lib.check(Lib.native.hearth_vault_open_key_file(path, keyFile, out))
            return HearthStore(out.value)
        }

        /**
         * Opens (creating on first use) the vault `dir/APP/vault.hearth`, whose random key
         * is kept only wrapped by `provider` (beside it, in `key.wrapped`, with a check
         * value): nothing in `dir` unlocks it without the provider. `dir` may be shared
         * (Android's `filesDir`): `dir/APP` is created 0700. A key the provider cannot
         * unwrap, or unwraps to another key, is [HearthIntegrityException]; a locked
         * provider is [HearthBusyException]; a provider that could not ask its keystore is
         * a [HearthException] with status ERROR (retry).
         */
        fun openWrapped(dir: String, app: String, provider: KeyProvider): HearthStore {
            val native = NativeKeyProvider()
            val wrap = ProviderCallback(provider, true)
            val unwrap = ProviderCallback(provider, false)
            native.wrap = wrap
            native.unwrap = unwrap
            val out = PointerByReference()
            Lib.check(Lib.native.hearth_store_open_wrapped(dir, app, native, out))
            // The callbacks must outlive the call: keep them reachable until here.
            Lib.keepAlive(native)
            Lib.keepAlive(wrap)
            Lib.keepAlive(unwrap)
            return HearthStore(out.value)
        }

        /** The best store for `app`: the OS keyring when it answers, else the vault. */
        fun openDefault(app: String): HearthStore {
            val out = PointerByReference()
            Lib.check(Lib.native.hearth_store_open_default(app, out))
            return HearthStore(out.value)
        }
    }

    /** Runs `block` on the live handle under the read lock; after [close] it throws. */
    private inline fun <T> withHandle(block: (Pointer) -> T): T {
        lock.readLock().lock()
        try {
            val h = handle ?: throw IllegalStateException("store closed")
            return block(h)
        } finally {
            // `this` must stay reachable while the native call runs, or the cleaner could
            // free the handle under it.
            Lib.keepAlive(this)
            lock.readLock().unlock()
        }
    }

    /** Stores `value` under `key` (`app::segment...`). The caller keeps and wipes `value`. */
    fun set(key: String, value: ByteArray) {
        if (value.isEmpty()) {
            withHandle { Lib.check(Lib.native.hearth_store_set(it, key, null, SizeT(0))) }
            return
        }
        val native = Memory(value.size.toLong())
        try {
            native.write(0, value, 0, value.size)
            withHandle { Lib.check(Lib.native.hearth_store_set(it, key, native, SizeT(value.size.toLong()))) }
        } finally {
            native.clear()
            native.close()
        }
    }

    /** The secret under `key`, or null. Close the buffer to wipe it. */
    fun get(key: String): SecretBuffer? = withHandle { h ->
        val out = PointerByReference()
        val status = Lib.native.hearth_store_get(h, key, out)
        if (status == Status.NOT_FOUND) return@withHandle null
        Lib.check(status)
        val secret = out.value
        val len = Memory(Native.SIZE_T_SIZE.toLong())
        try {
            val data = Lib.native.hearth_secret_data(secret, len)
            val size = Lib.readSize(len)
            // Native to native in one bulk copy through direct buffers: no Java array
            // holds the secret on the way.
            val copy = Memory(maxOf(size, 1L))
            copy.clear()
            if (size > 0) copy.getByteBuffer(0, size).put(data!!.getByteBuffer(0, size))
            SecretBuffer(copy, size.toInt())
        } finally {
            len.close()
            Lib.native.hearth_secret_free(secret)
        }
    }

    /** Deletes `key`; false when there was nothing to delete. */
    fun delete(key: String): Boolean = withHandle { h ->
        val status = Lib.native.hearth_store_delete(h, key)
        if (status == Status.NOT_FOUND) return@withHandle false
        Lib.check(status)
        true
    }

    /** The keys under `namespace`, sorted. */
    fun list(namespace: String): List<String> = withHandle { h ->
        val out = PointerByReference()
        Lib.check(Lib.native.hearth_store_list_keys(h, namespace, out))
        val list = out.value
        try {
            val n = Lib.native.hearth_key_list_len(list).toLong()
            (0 until n).map { Lib.native.hearth_key_list_get(list, SizeT(it))!!.getString(0, "UTF-8") }
        } finally {
            Lib.native.hearth_key_list_free(list)
        }
    }

    /** Deletes every secret under `namespace`; returns how many. */
    fun clear(namespace: String): Long = withHandle { h ->
        val count = Memory(Native.SIZE_T_SIZE.toLong())
        try {
            Lib.check(Lib.native.hearth_store_clear(h, namespace, count))
            Lib.readSize(count)
        } finally {
            count.close()
        }
    }

    /** Frees the store once every call in flight has returned; later calls throw. */
    override fun close() {
        lock.writeLock().lock()
        try {
            if (handle != null) cleanup.clean()
            handle = null
        } finally {
            lock.writeLock().unlock()
        }
    }
}

/**
 * A PKCE code verifier held in native memory (never in a Java String); [challenge] is its
 * S256 challenge. [close] wipes and frees it (a Cleaner does if it is forgotten).
 */
class PkceVerifier internal constructor(verifier: Pointer, val challenge: String) : Closeable {
    private val lock = Any()
    private var verifier: Pointer? = verifier
    private val cleanup = Lib.cleaner.register(this, FreeString(verifier, lock))

    /** The verifier's bytes, into `dest` (at least 43 bytes; the caller wipes it); its length. */
    fun copyInto(dest: ByteArray): Int = synchronized(lock) {
        val v = verifier ?: throw IllegalStateException("closed")
        val n = v.indexOf(0, 0.toByte()).toInt()
        require(dest.size >= n) { "destination too small" }
        v.read(0, dest, 0, n)
        n
    }

    override fun close() = synchronized(lock) {
        if (verifier != null) cleanup.clean()
        verifier = null
    }
}

/** Frees (and so wipes) a string Hearth returned, under its owner's lock. */
private class FreeString(private val s: Pointer, private val lock: Any) : Runnable {
    override fun run() = synchronized(lock) { Lib.native.hearth_string_free(s) }
}

/** PKCE (RFC 7636, S256). */
object Pkce {
    /** A new verifier (32 bytes from the OS generator), kept in native memory, and its challenge. */
    fun generate(): PkceVerifier {
        val verifier = PointerByReference()
        val challenge = PointerByReference()
        Lib.check(Lib.native.hearth_pkce_generate(verifier, challenge))
        return PkceVerifier(verifier.value, Lib.takeString(challenge.value))
    }

    /**
     * The S256 challenge of `verifier`. Prefer [generate]: a verifier in a String cannot be
     * wiped.
     */
    @Deprecated("a verifier in a String cannot be wiped; use Pkce.generate()")
    fun challenge(verifier: String): String {
        val out = PointerByReference()
        Lib.check(Lib.native.hearth_pkce_challenge(verifier, out))
        return Lib.takeString(out.value)
    }

    /** The library version, "hearth-ffi/X.Y.Z". */
    fun version(): String = Lib.native.hearth_version()
}
