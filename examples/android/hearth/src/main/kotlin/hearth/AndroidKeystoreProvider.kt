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
 * biometrics re-enrolled), the open fails with [HearthIntegrityException]: the vault
 * cannot be read any more and the app signs in afresh.
 */
class AndroidKeystoreProvider(
    private val alias: String = "hearth-vault-key",
    private val requireUserAuth: Boolean = false,
    private val authValiditySeconds: Int = 30
) : KeyProvider {
    init {
        require(authValiditySeconds > 0) { "authValiditySeconds must be positive" }
    }

    private fun key(): SecretKey {
        val ks = KeyStore.getInstance("AndroidKeyStore")
        ks.load(null)
        (ks.getEntry(alias, null) as? KeyStore.SecretKeyEntry)?.let { return it.secretKey }
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
        return gen.generateKey()
    }

    /** Runs `init` on a fresh cipher; a key awaiting authentication is "locked". */
    private fun cipher(init: (Cipher) -> Unit): Cipher {
        val cipher = Cipher.getInstance("AES/GCM/NoPadding")
        try {
            init(cipher)
        } catch (e: UserNotAuthenticatedException) {
            throw KeyProviderLockedException("the user has not authenticated recently", e)
        } catch (e: KeyPermanentlyInvalidatedException) {
            throw IllegalStateException("the keystore key was invalidated", e)
        }
        return cipher
    }

    override fun wrap(key: ByteArray): ByteArray {
        // The keystore draws the IV; it is stored in front of the ciphertext.
        val cipher = cipher { it.init(Cipher.ENCRYPT_MODE, key()) }
        return cipher.iv + cipher.doFinal(key)
    }

    override fun unwrap(wrapped: ByteArray): ByteArray {
        require(wrapped.size > 12) { "not a wrapped key" }
        val cipher = cipher { it.init(Cipher.DECRYPT_MODE, key(), GCMParameterSpec(128, wrapped, 0, 12)) }
        return cipher.doFinal(wrapped, 12, wrapped.size - 12)
    }
}
