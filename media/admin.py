"""Django admin for media assets. Uploading and deleting go through the services, so the admin
obeys the same rules as the API (content checks, re-encoding, `asset_in_use`, file clean-up).
Everything measured from the content is read-only."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.template.defaultfilters import filesizeformat

from eduflow.core.exceptions import ProblemError

from . import services
from .models import MediaAsset

_READ_ONLY = (
    "id",
    "owner",
    "kind",
    "status",
    "provider",
    "original_filename",
    "content_type",
    "size",
    "sha256",
    "original",
    "thumbnail",
    "metadata",
    "renditions",
    "error",
    "mux_upload_id",
    "mux_asset_id",
    "mux_playback_id",
    "created_at",
    "updated_at",
)


class MediaAssetUploadForm(forms.ModelForm):
    """The add page: one file, validated and stored by `services.asset_create`."""

    file = forms.FileField(
        help_text="Image, PDF, PPTX or video; the type is read from the content."
    )

    class Meta:
        model = MediaAsset
        fields: tuple[str, ...] = ()

    def __init__(self, *args, request=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.request = request
        self.created: MediaAsset | None = None

    def clean(self):
        cleaned = super().clean()
        upload = cleaned.get("file")
        if upload is not None and self.request is not None:
            try:
                self.created = services.asset_create(actor=self.request.user, file=upload)
            except ProblemError as exc:
                raise ValidationError({"file": str(exc.detail)}) from exc
        return cleaned


@admin.register(MediaAsset)
class MediaAssetAdmin(admin.ModelAdmin):
    list_display = (
        "__str__",
        "kind",
        "status",
        "provider",
        "owner",
        "human_size",
        "created_at",
    )
    list_filter = ("kind", "status", "provider")
    list_select_related = ("owner",)
    search_fields = ("id", "original_filename", "sha256", "owner__email", "owner__username")
    date_hierarchy = "created_at"
    readonly_fields = _READ_ONLY
    exclude = ("hls_key",)

    @admin.display(description="size", ordering="size")
    def human_size(self, obj: MediaAsset) -> str:
        return filesizeformat(obj.size)

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            form = MediaAssetUploadForm

            class RequestBoundForm(form):
                def __init__(self, *args, **inner):
                    super().__init__(*args, request=request, **inner)

            return RequestBoundForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_readonly_fields(self, request, obj=None):
        return _READ_ONLY if obj is not None else ()

    def get_fields(self, request, obj=None):
        return ("file",) if obj is None else _READ_ONLY

    def save_model(self, request, obj, form, change):
        if change:
            return  # nothing on an asset page is editable
        created = form.created
        for field in MediaAsset._meta.concrete_fields:
            setattr(obj, field.attname, getattr(created, field.attname))
        obj._state.adding = False
        obj._state.db = created._state.db

    def delete_model(self, request, obj):
        services.asset_delete(actor=request.user, asset=obj)

    def delete_queryset(self, request, queryset):
        for asset in queryset:
            try:
                services.asset_delete(actor=request.user, asset=asset)
            except ProblemError as exc:
                self.message_user(request, f"{asset}: {exc.detail}", messages.ERROR)
