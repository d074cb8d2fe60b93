"""The data model. Import what you need from its module (`models.orders`, `models.enums`, ...): this
package imports nothing itself, so `config` can read `models.enums` and `models.chains` without loading the ORM."""
