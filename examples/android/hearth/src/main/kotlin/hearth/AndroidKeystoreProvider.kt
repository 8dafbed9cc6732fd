// A KeyProvider whose key is an AES-256 key in AndroidKeyStore: Hearth's vault key is
// wrapped (AES-GCM) by it and can only be unwrapped on this device, by this app, and —
// with requireUserAuth — within authValiditySeconds of the user authenticating (device
// credential or strong biometric). Compiled only in the Android module (examples/android);
// not built on the JVM test machine.
package hearth

import android.os.Build
import android.security.keystore.KeyGenParameterSpec
import android.security.keystore.KeyPermanentlyInvalidatedException
import android.security.keystore.KeyProperties
import android.security.keystore.UserNotAuthenticatedException
import java.security.KeyStore
import javax.crypto.Cipher
import javax.crypto.KeyGenerator
import javax.crypto.SecretKey
import javax.crypto.spec.GCMParameterSpec

/**
 * With `requireUserAuth`, opening the store before the user authenticated fails with
 * [HearthBusyException]: show `BiometricPrompt` (allowing the device credential) or
 * `KeyguardManager.createConfirmDeviceCredentialIntent`, then open again within
 * `authValiditySeconds`. If the key was invalidated (the screen lock was removed, or
 * biometrics re-enrolled) or deleted, the open fails with [HearthIntegrityException]: the
 * vault cannot be read any more; delete `dir/APP` and sign in afresh (the next wrap makes
 * a new key). A keystore that fails otherwise (a binder error) is a [HearthException]
 * with status ERROR: retry, and do not delete anything.
 *
 * The key is created under a lock and re-checked inside it, so two first opens in this
 * process cannot make two keys under one alias (one of them would lose its vault). Use
 * one alias per vault, and open a vault from one process.
 */
class AndroidKeystoreProvider(
    private val alias: String = "hearth-vault-key",
    private val requireUserAuth: Boolean = false,
    private val authValiditySeconds: Int = 30
) : KeyProvider {
    init {
        require(authValiditySeconds > 0) { "authValiditySeconds must be positive" }
    }

    private companion object {
        /** Serialises looking up, creating and deleting keys. */
        val keys = Any()
    }

    private fun keyStore(): KeyStore = KeyStore.getInstance("AndroidKeyStore").apply { load(null) }

    /** The key under `alias`; made if missing and `create` (a wrap), else invalidated (an unwrap). */
    private fun key(create: Boolean): SecretKey = synchronized(keys) {
        val existing = keyStore().getEntry(alias, null) as? KeyStore.SecretKeyEntry
        if (existing != null) return@synchronized existing.secretKey
        if (!create) throw KeyProviderInvalidatedException("the keystore holds no key under the alias")
        val spec = KeyGenParameterSpec.Builder(alias, KeyProperties.PURPOSE_ENCRYPT or KeyProperties.PURPOSE_DECRYPT)
            .setBlockModes(KeyProperties.BLOCK_MODE_GCM)
            .setEncryptionPaddings(KeyProperties.ENCRYPTION_PADDING_NONE)
            .setKeySize(256)
        if (requireUserAuth) {
            spec.setUserAuthenticationRequired(true)
            if (Build.VERSION.SDK_INT >= 30) {
                spec.setUserAuthenticationParameters(
                    authValiditySeconds,
                    KeyProperties.AUTH_DEVICE_CREDENTIAL or KeyProperties.AUTH_BIOMETRIC_STRONG
                )
            } else {
                @Suppress("DEPRECATION")
                spec.setUserAuthenticationValidityDurationSeconds(authValiditySeconds)
            }
        }
        val gen = KeyGenerator.getInstance(KeyProperties.KEY_ALGORITHM_AES, "AndroidKeyStore")
        gen.init(spec.build())
        gen.generateKey()
    }

    /** Runs `init` on a fresh cipher; a key awaiting authentication is "locked". */
    private fun cipher(init: (Cipher) -> Unit): Cipher {
        val cipher = Cipher.getInstance("AES/GCM/NoPadding")
        try {
            init(cipher)
        } catch (e: UserNotAuthenticatedException) {
            throw KeyProviderLockedException("the user has not authenticated recently", e)
        } catch (e: KeyPermanentlyInvalidatedException) {
            throw KeyProviderInvalidatedException("the keystore key was invalidated", e)
        }
        return cipher
    }

    override fun wrap(key: ByteArray): ByteArray {
        // The keystore draws the IV; it is stored in front of the ciphertext.
        val cipher = try {
            cipher { it.init(Cipher.ENCRYPT_MODE, key(create = true)) }
        } catch (e: KeyProviderInvalidatedException) {
            // A key invalidated before this vault existed: whatever it wrapped is lost
            // already, so the new vault gets a new key.
            synchronized(keys) { keyStore().deleteEntry(alias) }
            cipher { it.init(Cipher.ENCRYPT_MODE, key(create = true)) }
        }
        return cipher.iv + cipher.doFinal(key)
    }

    override fun unwrap(wrapped: ByteArray): ByteArray {
        require(wrapped.size > 12) { "not a wrapped key" }
        val cipher = cipher { it.init(Cipher.DECRYPT_MODE, key(create = false), GCMParameterSpec(128, wrapped, 0, 12)) }
        return cipher.doFinal(wrapped, 12, wrapped.size - 12)
    }
}
